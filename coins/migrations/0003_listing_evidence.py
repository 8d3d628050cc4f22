"""Symbols in the source's spelling with folded keys; listings that keep their score, evidence and runner-up."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("coins", "0002_sources_from_registry"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="coin", name="coin_symbol_name_idx"),
        migrations.AlterField(model_name="coin", name="symbol", field=models.CharField(blank=True, max_length=40)),
        migrations.AddField(
            model_name="coin",
            name="symbol_key",
            field=models.CharField(db_index=True, default="", max_length=400),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="coin", name="name_key", field=models.CharField(db_index=True, max_length=400)
        ),
        migrations.AlterField(
            model_name="sourcelisting", name="symbol", field=models.CharField(blank=True, max_length=40)
        ),
        migrations.AddField(
            model_name="sourcelisting",
            name="symbol_key",
            field=models.CharField(db_index=True, default="", max_length=400),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="sourcelisting",
            name="name_key",
            field=models.CharField(db_index=True, default="", max_length=400),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="sourcelisting",
            name="slug_key",
            field=models.CharField(blank=True, db_index=True, default="", max_length=400),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="sourcelisting",
            name="score",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=3, null=True),
        ),
        migrations.AddField(
            model_name="sourcelisting", name="evidence", field=models.JSONField(blank=True, default=dict)
        ),
        migrations.AddField(
            model_name="sourcelisting",
            name="runner_up",
            field=models.ForeignKey(
                blank=True,
                help_text="The next-best coin.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="coins.coin",
            ),
        ),
        migrations.AddField(
            model_name="sourcelisting",
            name="runner_up_score",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=3, null=True),
        ),
        migrations.AddField(
            model_name="sourcelisting", name="reviewed_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="sourcelisting",
            name="reviewed_by",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AlterField(
            model_name="sourcelisting",
            name="match_rule",
            field=models.CharField(
                choices=[
                    ("evidence", "Weighed evidence (slug, symbol, name, rank, prices)"),
                    ("symbol_only", "Symbol only (best-ranked coin)"),
                    ("name_only", "Name only (best-ranked coin)"),
                    ("new_coin", "No match: new coin"),
                    ("manual", "Set by an operator"),
                ],
                max_length=16,
            ),
        ),
    ]

from django.db import migrations


def stored_rows_dropped(apps, schema_editor):
    # Hours are grouped from their points when read, and one source's consensus is its own quote
    # (coins.history.series_points_sql): those rows would only repeat what the reads now compute.
    # The stored days stay as they are: their consensus points are the same prices either way.
    Candle = apps.get_model("coins", "Candle")
    Consensus = apps.get_model("coins", "Consensus")
    ConsensusQuote = apps.get_model("coins", "ConsensusQuote")
    Candle.objects.filter(interval="1h").delete()
    lone = Consensus.objects.filter(sources__lt=2)
    ConsensusQuote.objects.filter(consensus__in=lone).delete()
    lone.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("coins", "0010_coin_rank_slug_index"),
    ]

    operations = [
        migrations.RunPython(stored_rows_dropped, migrations.RunPython.noop),
    ]

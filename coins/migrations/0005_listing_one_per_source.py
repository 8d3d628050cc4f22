"""A coin holds at most one listing per source; the review queue's index and its proxy model."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("coins", "0004_listing_keys_and_one_per_source"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="sourcelisting",
            constraint=models.UniqueConstraint(fields=("coin", "source"), name="listing_coin_source_unique"),
        ),
        migrations.AddIndex(
            model_name="sourcelisting",
            index=models.Index(fields=["reviewed_at", "confidence", "-created_at"], name="listing_review_idx"),
        ),
        migrations.CreateModel(
            name="ListingToReview",
            fields=[],
            options={"verbose_name": "listing to review", "verbose_name_plural": "listings to review", "proxy": True,
                     "indexes": [], "constraints": []},
            bases=("coins.sourcelisting",),
        ),
    ]

from django.db import migrations

# Hours are grouped from their points when read, and one source's consensus is its own quote
# (coins.history.series_points_sql): these rows would only repeat what the reads now compute. The stored
# days stay as they are: their consensus points are the same prices either way. Plain DELETEs, not the
# ORM's: a consensus row's cascade would load every one of them (a year of hours of thousands of coins)
# into the process first.
DROPPED = [
    "DELETE FROM coins_consensusquote WHERE consensus_id IN (SELECT id FROM coins_consensus WHERE sources < 2)",
    "DELETE FROM coins_consensus WHERE sources < 2",
    "DELETE FROM coins_candle WHERE interval = '1h'",
]


class Migration(migrations.Migration):
    dependencies = [
        ("coins", "0010_coin_rank_slug_index"),
    ]

    operations = [
        migrations.RunSQL(DROPPED, migrations.RunSQL.noop),
    ]

import dagster as dg
inst = dg.DagsterInstance.get()
for r in reversed(inst.get_runs()):
    t = r.tags
    where = (f"{t['dagster/asset_partition_range_start']}..{t['dagster/asset_partition_range_end']}" if "dagster/asset_partition_range_start" in t
             else t.get("dagster/partition", "-"))
    print(f"{r.job_name:14s} {r.status.value:8s} {','.join(sorted(k.to_user_string() for k in r.asset_selection or [])):45s} {where:12s} "
          f"sensor={t.get('dagster/sensor_name', t.get('dagster/auto_materialize', '-'))} backfill={t.get('dagster/backfill', '-')}")
for b in inst.get_backfills():
    print("backfill", b.backfill_id, b.status.value, b.tags.get("dagster/sensor_name"))
print("latest materialization per asset/partition (s, relative):")
recs = {}
for key in ["well_profiles", "treatment_profiles", "map_report"]:
    for ev in inst.fetch_materializations(dg.AssetKey(key), limit=50).records:
        recs.setdefault((key, ev.partition_key), ev.timestamp)
t0 = min(recs.values())
for (k, p), ts in sorted(recs.items(), key=lambda x: x[1]):
    print(f"   {k}[{p}] {ts - t0:6.1f}")

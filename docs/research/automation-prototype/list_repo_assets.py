import sys; sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3]))
from morph_assets.definitions import defs
g = defs.resolve_asset_graph()
for k in g.toposorted_asset_keys:
    n = g.get(k)
    pd = n.partitions_def
    kind = "unpart" if pd is None else ("plate" if pd.__class__.__name__ == "DynamicPartitionsDefinition" else "plate|well")
    print(f"{k.to_user_string():28s} {kind:10s} bp={'single' if n.backfill_policy else '-':6s} tags={n.tags.get('morph_assets/level','-'):14s} deps={[p.to_user_string() for p in n.parent_keys]}")

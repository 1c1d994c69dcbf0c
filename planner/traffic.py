"""Traffic between sites recomputed from a plan's physics, not read from the LP's flow
variables (which only bound it): trajectories from each generating site to the RL trainer,
fresh weights from the trainer to each generating site, gradient sync between every pair
of sites hosting a multi-site pretraining, and the KV cache of prompts prefilled at another site
than their decode, each routed on the topology's lowest-latency path.
Average bytes/s over the workload's window, as in the LP (docs/lp.md); the KV cache also at each
period's rate (kv_period_traffic, as the LP's kvpeak rows)."""

from __future__ import annotations

from planner.demand.types import PrefillOf, WorkloadDemand
from planner.rows import AllocationRow, RLRow, ServingRow
from topologies.builder import Topology


def kv_share_key(a: str, b: str, period: int, decode: str | None = None) -> str:
    """ "a->b/pN", or "<decode role>:a->b/pN" for a tier with several prefill pairs (model_from:
    one per candidate, "decode@c:a->b/pN")."""
    return f"{decode + ':' if decode else ''}{a}->{b}/p{period}"


def split_kv_share_key(key: str) -> tuple[str | None, str, str, int]:
    """(decode role or None, a, b, period) of a kv_share_key."""
    head, p = key.rsplit("/", 1)
    decode, _, pair = head.rpartition(":")
    a, b = pair.split("->")
    return decode or None, a, b, int(p[1:])


def several_pairs(demand: WorkloadDemand) -> bool:
    """Whether a tier's KV share keys name their decode role: it has more than one prefill
    role (a model_from tier with several candidates)."""
    return sum(r.prefill_of is not None for r in demand.roles) > 1


def kv_pair(demand: WorkloadDemand, decode: str | None) -> PrefillOf:
    """The PrefillOf of the prefill role of `decode` (None: the tier's only prefill role)."""
    tied = [r.prefill_of for r in demand.roles if r.prefill_of is not None]
    found = [t for t in tied if decode is None or t.decode == decode]
    if len(found) != 1:
        raise KeyError(f"{demand.name}: no single prefill role for decode role {decode!r}")
    return found[0]


def kv_flows(
    demand: WorkloadDemand, shares: dict[str, float], spans: dict[int, tuple[float, float]]
) -> dict[tuple[str, str], float]:
    """KV bytes/s from prefill site a to decode site b, averaged over the tier's window:
    sum_{pairs,p} share[a,b,p] x kv_bytes x load share of p / window (kv_bytes = requests x
    prompt tokens x KV bytes per token over the window, of the pair's model)."""
    out: dict[tuple[str, str], float] = {}
    for key, share in shares.items():
        decode, a, b, p = split_kv_share_key(key)
        kv = kv_pair(demand, decode).kv_bytes
        load = demand.load_between(*spans[p])
        out[(a, b)] = out.get((a, b), 0.0) + share * kv * load / demand.window_s
    return out


def kv_period_traffic(
    topo: Topology,
    demands: list[WorkloadDemand],
    serving: list[ServingRow],
    spans: dict[int, tuple[float, float]],
) -> dict[tuple[str, int], float]:
    """KV bytes/s on each link in each period, at that period's rate: sum over the tiers' site
    pairs (a, b) routed on the link (and prefill pairs) of share[a,b,p] x kv_bytes x load share
    of p / length of p."""
    by_name = {d.name: d for d in demands}
    out: dict[tuple[str, int], float] = {}
    for tier in serving:
        demand = by_name[tier.workload]
        for key, share in tier.kv_shares.items():
            decode, a, b, p = split_kv_share_key(key)
            kv = kv_pair(demand, decode).kv_bytes
            start, end = spans[p]
            rate = share * kv * demand.load_between(start, end) / (end - start)
            for link_id in topo.path(a, b) or []:
                key_lp = (link_id, p)
                out[key_lp] = out.get(key_lp, 0.0) + rate
    return out


def routed_traffic(
    topo: Topology,
    demands: list[WorkloadDemand],
    rl_rows: dict[str, RLRow],
    allocations: list[AllocationRow],
    serving: list[ServingRow] | None = None,
    spans: dict[int, tuple[float, float]] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """(bytes/s per link id, problems: traffic with no path or no single trainer site)."""
    traffic: dict[str, float] = {}
    problems: list[str] = []

    def route(a: str, b: str, bytes_per_s: float, what: str) -> None:
        if a == b or bytes_per_s <= 0:
            return
        path = topo.path(a, b)
        if path is None:
            problems.append(f"{what}: {a} -> {b} has no path")
            return
        for link_id in path:
            traffic[link_id] = traffic.get(link_id, 0.0) + bytes_per_s

    for demand in demands:
        if demand.rl is not None:
            row = rl_rows[demand.name]
            trainer = row.trainer_site
            if not isinstance(trainer, str):
                problems.append(f"{demand.name}: trainer on {trainer}, expected one site")
                continue
            rl = demand.rl
            for d, samples in row.samples_by_site.items():
                kept_bytes = samples * rl.kept_fraction * rl.trajectory_bytes_per_kept_sample
                route(d, trainer, kept_bytes / demand.window_s, f"{demand.name} trajectories")
                route(
                    trainer,
                    d,
                    rl.weight_bytes_per_update * rl.updates / demand.window_s,
                    f"{demand.name} weights",
                )
        if demand.pretrain is not None and demand.pretrain.allow_multi_site:
            # 2 gradient volumes a step whatever the layout: a multi-site job's FSDP group is
            # hybrid, the shard group inside a site and its replicas all-reducing their
            # gradient shards across sites (training.multi_site_fsdp_problem refuses a group
            # over every DP·CP rank, whose per-layer collectives would move 3m volumes a step)
            sites = sorted({a.datacenter for a in allocations if a.workload == demand.name})
            per_pair = (
                2
                * demand.pretrain.gradient_bytes_per_sync
                * demand.pretrain.syncs
                / demand.window_s
            )
            for i, a in enumerate(sites):
                for b in sites[i + 1 :]:
                    route(a, b, per_pair, f"{demand.name} gradients")
    by_name = {d.name: d for d in demands}
    for tier in serving or []:
        flows = kv_flows(by_name[tier.workload], tier.kv_shares, spans or {})
        for (a, b), bytes_per_s in flows.items():
            route(a, b, bytes_per_s, f"{tier.workload} KV cache")
    return traffic, problems

"""The global dedup decision on one machine: URL, exact, then fuzzy (LSH edges, union-find), survivors.

The Spark engine (pipelines/dedup/spark.py) computes the same decision with DataFrame operations; both
follow the rules below, so they agree row for row on any input and any partitioning:

- nodes are ordered by id; the survivor of a group is the first by the survivor keys (nulls last), id last;
- URL groups order by fetch time first (newest or oldest per config), then by the survivor keys;
- each LSH bucket links every member to the bucket's smallest id; with verification it also links each
  member to the previous one by id, and only pairs whose true Jaccard reaches the threshold are kept;
- a fuzzy cluster's id is its smallest member id; its size counts every document merged into it, URL and
  exact duplicates included (later stages can upsample by it);
- a dropped document's detail is the id of the copy that was finally kept.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from corpusforge.ledger import DROPPED, KEPT
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.keys import EMPTY_REASON
from pipelines.dedup.minhash import jaccard

DUP_ID, DUP_URL, DUP_EXACT, DUP_FUZZY = "duplicate_id", "duplicate_url", "duplicate_exact", "duplicate_fuzzy"

DECISION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("task", pa.int32(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("kept_id", pa.string()),
        pa.field("cluster", pa.string()),
        pa.field("cluster_size", pa.int64()),
        pa.field("shingles", pa.string()),
    ]
)

ShingleLoader = Callable[[set[str]], dict[str, np.ndarray]]


def _codes(column: pa.ChunkedArray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """(null flag, order code) of a column so that lexsort puts nulls last and honours the direction."""
    values = column.to_numpy(zero_copy_only=False)
    null = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_floating(column.type):
        codes = np.where(null, 0.0, values.astype(np.float64))
    else:
        # object arrays compare as Python strings: numpy's fixed-width ones would drop a trailing NUL
        filled = np.where(null, "", values.astype(object))
        _, codes = np.unique(filled, return_inverse=True)
        codes = codes.astype(np.float64)
    return null.astype(np.int8), (-codes if descending else codes)


def _group_first(keys: np.ndarray, members: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For nodes ``members`` grouped by ``keys``: each member's group head (the lowest rank) and group ids."""
    order = np.lexsort((rank[members], keys))
    sorted_keys = keys[order]
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    group = np.cumsum(starts) - 1
    heads_sorted = members[order][starts]
    head = np.empty(len(members), dtype=np.int64)
    head[order] = heads_sorted[group]
    return head, group


def decide(
    fp: pa.Table, config: DedupConfig, load_shingles: ShingleLoader | None = None, linked: pa.Table | None = None
) -> tuple[pa.Table, dict]:
    """Decisions for every fingerprint row (DECISION_SCHEMA) and the summary (counts, cluster sizes).

    ``linked`` (task, row, cluster) replaces the LSH edges with clusters found elsewhere (datatrove's stages).
    """
    fp = fp.sort_by([("id", "ascending"), ("task", "ascending"), ("row", "ascending")])
    n = len(fp)
    ids = np.asarray(fp.column("id").to_pylist(), dtype=object)
    keys = config.survivor_keys()
    sort_cols = []
    for i, key in enumerate(keys):
        null, codes = _codes(fp.column(f"k{i}"), key.order == "desc")
        sort_cols += [null, codes]
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort(tuple(reversed(sort_cols + [np.arange(n)])))] = np.arange(n)

    alive = ~np.asarray(fp.column("empty").to_numpy(zero_copy_only=False), dtype=bool)
    reason = np.full(n, None, dtype=object)
    reason[~alive] = EMPTY_REASON
    parent = np.arange(n)  # who absorbed each node (itself when it survives)
    weight = np.ones(n, dtype=np.int64)
    stats = {"empty": int((~alive).sum())}
    # the same record read twice (an input listed twice, a re-crawl with one record id): first read wins
    repeated = np.r_[False, ids[1:] == ids[:-1]] if n else np.zeros(0, dtype=bool)
    first = np.maximum.accumulate(np.where(repeated, 0, np.arange(n))) if n else np.zeros(0, dtype=np.int64)

    def absorb(members: np.ndarray, head: np.ndarray, why: str) -> None:
        lost = members[head != members]
        np.add.at(weight, head[head != members], weight[lost])
        parent[lost] = head[head != members]
        reason[lost] = why
        alive[lost] = False
        stats[why] = int(len(lost))

    if repeated.any():
        members = np.flatnonzero(alive | repeated)
        absorb(members, first[members], DUP_ID)

    if config.url.enabled:
        url = fp.column("url_key")
        members = np.flatnonzero(alive & ~np.asarray(url.is_null().to_numpy(zero_copy_only=False), dtype=bool))
        if len(members):
            null, codes = _codes(fp.column("fetch_time"), config.url.keep == "newest")
            url_rank = np.empty(n, dtype=np.int64)
            url_rank[np.lexsort((rank, codes, null))] = np.arange(n)
            _, url_codes = np.unique(np.asarray(url.to_pylist(), dtype=object)[members], return_inverse=True)
            head, _ = _group_first(url_codes, members, url_rank)
            absorb(members, head, DUP_URL)

    if config.exact.enabled:
        exact = fp.column("exact")
        members = np.flatnonzero(alive & ~np.asarray(exact.is_null().to_numpy(zero_copy_only=False), dtype=bool))
        if len(members):
            _, codes = np.unique(np.asarray(exact.to_pylist(), dtype=object)[members], return_inverse=True)
            head, _ = _group_first(codes, members, rank)
            absorb(members, head, DUP_EXACT)

    cluster = np.arange(n)
    if config.fuzzy.enabled:
        if linked is not None:
            members, edges = _linked_edges(fp, alive, linked)
        else:
            bands_col = fp.column("bands")
            members = np.flatnonzero(
                alive & ~np.asarray(bands_col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            )
            edges = _lsh_edges(bands_col, members, config.fuzzy.verify.enabled)
        stats["candidate_pairs"] = int(len(edges))
        if config.fuzzy.verify.enabled and len(edges):
            edges = _verify(edges, ids, load_shingles, config.fuzzy.verify.threshold)
            stats["verified_pairs"] = int(len(edges))
        if len(members):
            cluster = _components(n, edges)  # smallest node (= smallest id) of each component
            head, _ = _group_first(cluster[members], members, rank)
            absorb(members, head, DUP_FUZZY)

    # follow absorptions to the copy that was finally kept
    root = parent.copy()
    for _ in range(3):
        root = parent[root]
    kept = alive
    cluster_of_root = cluster  # survivors: fuzzy component's smallest id, or themselves
    status = np.where(kept, KEPT, DROPPED)
    decisions = pa.table(
        {
            "id": fp.column("id"),
            "task": fp.column("task"),
            "row": fp.column("row"),
            "status": pa.array(status.tolist(), pa.string()),
            "reason": pa.array(reason.tolist(), pa.string()),
            "kept_id": pa.array(
                [
                    ids[r] if not k and why != EMPTY_REASON else None
                    for r, k, why in zip(root, kept, reason, strict=True)
                ],
                pa.string(),
            ),
            "cluster": pa.array(
                [ids[c] if k else None for c, k in zip(cluster_of_root, kept, strict=True)], pa.string()
            ),
            "cluster_size": pa.array([int(weight[i]) if k else None for i, k in enumerate(kept)], pa.int64()),
            "shingles": fp.column("shingles"),
        },
        schema=DECISION_SCHEMA,
    )
    return decisions, stats


def _lsh_edges(bands_col: pa.ChunkedArray, members: np.ndarray, chain: bool) -> np.ndarray:
    """(a, b) node pairs, a < b: each bucket's members linked to its smallest node (and, with chain, to the previous)."""
    if not len(members):
        return np.empty((0, 2), dtype=np.int64)
    flat = bands_col.combine_chunks()
    matrix = flat.take(pa.array(members)).flatten().to_numpy().reshape(len(members), -1)
    out = []
    for b in range(matrix.shape[1]):
        order = np.lexsort((members, matrix[:, b]))  # members are sorted nodes; ties broken by node
        keys, nodes = matrix[order, b], members[order]
        starts = np.r_[True, keys[1:] != keys[:-1]]
        head = nodes[starts][np.cumsum(starts) - 1]
        linked = ~starts
        out.append(np.stack([head[linked], nodes[linked]], axis=1))
        if chain:
            prev = np.r_[nodes[:1], nodes[:-1]]
            chained = linked & (prev != head)
            out.append(np.stack([prev[chained], nodes[chained]], axis=1))
    edges = np.concatenate(out) if out else np.empty((0, 2), dtype=np.int64)
    return np.unique(edges, axis=0) if len(edges) else edges.reshape(0, 2)


def _linked_edges(fp: pa.Table, alive: np.ndarray, linked: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Alive members of externally found clusters, each linked to its cluster's smallest alive node."""
    node_of = {
        (t, r): i
        for i, (t, r) in enumerate(zip(fp.column("task").to_pylist(), fp.column("row").to_pylist(), strict=True))
    }
    pairs = [
        (cluster, node_of[(t, r)])
        for t, r, cluster in zip(*(linked.column(c).to_pylist() for c in ("task", "row", "cluster")), strict=True)
        if (t, r) in node_of and alive[node_of[(t, r)]]
    ]
    if not pairs:
        return np.empty(0, dtype=np.int64), np.empty((0, 2), dtype=np.int64)
    arr = np.array(sorted(pairs), dtype=np.int64)
    starts = np.r_[True, arr[1:, 0] != arr[:-1, 0]]
    head = arr[starts, 1][np.cumsum(starts) - 1]
    edges = np.stack([head[~starts], arr[~starts, 1]], axis=1)
    return np.unique(arr[:, 1]), edges


def _verify(edges: np.ndarray, ids: np.ndarray, load_shingles: ShingleLoader | None, threshold: float) -> np.ndarray:
    if load_shingles is None:
        raise ValueError("verification needs the documents' shingles")
    shingles = load_shingles({ids[i] for i in np.unique(edges)})
    keep = [jaccard(shingles[ids[a]], shingles[ids[b]]) >= threshold for a, b in edges]
    return edges[np.asarray(keep, dtype=bool)]


def _components(n: int, edges: np.ndarray) -> np.ndarray:
    """Each node's label: the smallest node of its connected component."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    smallest = np.full(labels.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n))
    return smallest[labels]

"""The dedup job on Spark: fingerprint and apply tasks on executors, the global decision with DataFrames.

The decision follows the rules of pipelines/dedup/decide.py (its module docstring) and gives the same rows
on any input and any partitioning; only aggregates (counts) come back to the driver. Every grouping has a
total order (survivor keys, nulls last, then the id, which is unique among live documents), so the result
does not depend on how rows are spread over partitions.

- the first read of an id (by task, row) stands for it; later reads are ``duplicate_id`` of it;
- URL, exact and fuzzy survivors are the first row of a window ordered by the survivor keys;
- LSH buckets are (band position, band key) windows; edges link each member to the bucket's smallest id
  (and, with verification, to the previous id), verified with ``array_intersect`` on the shingle hashes;
- fuzzy clusters are the connected components of the edges, by large-star / small-star (Kiveris et al.,
  "Connected Components in MapReduce and Beyond", SoCC 2014), labelled by their smallest id;
- a dropped document's kept id follows the absorptions (id → URL → exact → fuzzy survivor): each group's
  first row is its survivor, so a second pass of the same windows carries the survivor's own final head.
"""

from __future__ import annotations

from corpusforge.fs import join
from corpusforge.ledger import DROPPED, KEPT
from pipelines.dedup.decide import DECISION_SCHEMA, DUP_EXACT, DUP_FUZZY, DUP_ID, DUP_URL
from pipelines.dedup.keys import EMPTY_REASON

SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"
MAX_ROUNDS = 100  # large-star / small-star needs O(log^2 n) rounds; this is a guard, never reached


def _partitions(session, requested: int | None) -> int:
    return requested or int(session.conf.get(SHUFFLE_PARTITIONS))


# -- connected components ---------------------------------------------------------------------------------------
def _large_star(edges, partitions: int):
    """Every node links its larger neighbours to the smallest of its closed neighbourhood."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    both = edges.select(F.col("a").alias("x"), F.col("b").alias("y")).unionByName(
        edges.select(F.col("b").alias("x"), F.col("a").alias("y"))
    )
    both = both.repartition(partitions, "x")
    smallest = F.least(F.col("x"), F.min("y").over(Window.partitionBy("x")))
    out = both.withColumn("m", smallest).where(F.col("y") > F.col("x"))
    # hashed by the larger end: distinct and the small-star window that follows need no further shuffle
    return out.select(F.col("y").alias("a"), F.col("m").alias("b")).repartition(partitions, "a").distinct()


def _small_star(edges, partitions: int):
    """Every node links itself and its smaller neighbours to the smallest of them (``edges`` hashed by ``a``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    star = edges.withColumn("m", F.min("b").over(Window.partitionBy("a")))
    out = star.where(F.col("b") != F.col("m")).select(F.col("b").alias("a"), "m").unionByName(star.select("a", "m"))
    return out.select("a", F.col("m").alias("b")).repartition(partitions, "a", "b").distinct()


def _is_star_forest(edges) -> bool:
    """Each node has at most one smaller neighbour, and a node with one has no larger neighbour: every component
    is a star around its smallest node, which both steps leave unchanged (convergence)."""
    from pyspark.sql import functions as F

    ends = edges.select(F.col("a").alias("n"), F.lit(1).alias("up"), F.lit(0).alias("down")).unionByName(
        edges.select(F.col("b").alias("n"), F.lit(0).alias("up"), F.lit(1).alias("down"))
    )
    degrees = ends.groupBy("n").agg(F.sum("up").alias("up"), F.max("down").alias("down"))
    return degrees.where((F.col("up") > 1) | ((F.col("up") == 1) & (F.col("down") == 1))).limit(1).count() == 0


def connected_components(edges_df, partitions: int | None = None):
    """(node, component) for every node of an undirected graph given as (u, v) string edges; the component is
    its smallest node. Large-star and small-star rounds until the graph is a forest of stars (no edge changes
    any more); each round is checkpointed so the lineage stays one round deep."""
    from pyspark.sql import functions as F

    spark = edges_df.sparkSession
    partitions = _partitions(spark, partitions)
    edges = edges_df.select(F.greatest("u", "v").alias("a"), F.least("u", "v").alias("b"))
    edges = edges.where(F.col("a") != F.col("b")).repartition(partitions, "a", "b").distinct().localCheckpoint()
    rounds = 0
    while not _is_star_forest(edges):
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
        edges = _small_star(_large_star(edges, partitions), partitions).localCheckpoint()
    leaves = edges.select(F.col("a").alias("node"), F.col("b").alias("component"))
    centres = edges.select(F.col("b").alias("node"), F.col("b").alias("component"))
    return leaves.unionByName(centres).distinct()


# -- the decision -----------------------------------------------------------------------------------------------
def decide_spark(session, job, n_tasks: int) -> dict:
    """Decisions of every fingerprint row, written to ``_work/decisions/task=N/``; returns the summary counts
    (the same keys and values as ``decide``). A task with no rows gets no directory, which reads as no
    decisions, so ``n_tasks`` is not needed here."""
    from pyspark import StorageLevel

    previous = session.conf.get(SHUFFLE_PARTITIONS)
    if job.dedup.partitions:
        session.conf.set(SHUFFLE_PARTITIONS, str(job.dedup.partitions))
    cached: list = []

    def keep(df):
        cached.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return df

    try:
        return _decide(session, job, _partitions(session, job.dedup.partitions), keep)
    finally:
        session.conf.set(SHUFFLE_PARTITIONS, previous)
        for df in cached:
            df.unpersist()


def _survivor_order(config) -> list:
    from pyspark.sql import functions as F

    order = []
    for i, key in enumerate(config.survivor_keys()):
        column = F.col(f"k{i}")
        order.append(column.desc_nulls_last() if key.order == "desc" else column.asc_nulls_last())
    return order + [F.col("id").asc()]  # ids are unique among the live documents that compete


def _head(member, group: str, order: list, carry: str = "id"):
    """(head, carried): the first id by ``order`` among members sharing ``group`` (a non-member is its own
    head), and the ``carry`` column of that first row (a non-member's own). Non-members are partitioned by
    their id, so they never pile up in one window partition."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    window = Window.partitionBy(F.when(member, F.col(group)), F.when(~member, F.col("id"))).orderBy(*order)
    return tuple(F.when(member, F.first(c).over(window)).otherwise(F.col(c)) for c in ("id", carry))


def _decide(session, job, partitions: int, keep) -> dict:
    """``keep`` persists a DataFrame that is read more than once (and unpersists it when the caller is done)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    config = job.dedup
    verify = config.fuzzy.enabled and config.fuzzy.verify.enabled
    order = _survivor_order(config)
    keys = [f"k{i}" for i in range(len(config.survivor_keys()))]
    fetch = F.col("fetch_time")
    fetch = fetch.desc_nulls_last() if config.url.keep == "newest" else fetch.asc_nulls_last()
    url_order = [fetch, *order]

    reader = session.read.option("pathGlobFilter", "part-*.parquet")  # not the markers or temporaries
    df = reader.parquet(join(job.output, "_work", "fingerprints"))
    columns = ["id", "task", "row", "empty", "url_key", "fetch_time", "exact", "shingles", "bands", *keys]
    df = df.select(*columns, *(["hashes"] if verify else []))

    # the same id read more than once: its first read by (task, row) stands for it, later reads only follow it
    by_read = Window.partitionBy("id").orderBy("task", "row")
    df = df.withColumn("_first", F.row_number().over(by_read) == 1)
    alive = F.col("_first") & ~F.col("empty")
    no = F.lit(False)

    # each phase: members, and their head (the survivor of their group); everyone else heads itself
    df = df.withColumn("_m_url", alive & F.col("url_key").isNotNull() if config.url.enabled else no)
    df = df.withColumn("_url", _head(F.col("_m_url"), "url_key", url_order)[0] if config.url.enabled else F.col("id"))
    alive = alive & (F.col("_url") == F.col("id"))
    df = df.withColumn("_m_exact", alive & F.col("exact").isNotNull() if config.exact.enabled else no)
    df = df.withColumn("_exact", _head(F.col("_m_exact"), "exact", order)[0] if config.exact.enabled else F.col("id"))
    alive = alive & (F.col("_exact") == F.col("id"))
    df = keep(df.withColumn("_m_fuzzy", alive & F.col("bands").isNotNull() if config.fuzzy.enabled else no))

    candidates = verified = None
    if config.fuzzy.enabled:
        members = df.where(F.col("_m_fuzzy"))  # their ids are unique
        edges = keep(_lsh_edges(members, verify, partitions))
        candidates = edges.count()
        if verify and candidates:
            edges = keep(_verified(edges, members, config.fuzzy.verify.threshold))
            verified = edges.count()
        components = connected_components(edges, partitions)
        df = df.join(components, F.col("id") == F.col("node"), "left")
        df = df.withColumn("_cluster", F.coalesce(F.col("component"), F.col("id"))).drop("node", "component")
        df = df.withColumn("_fuzzy", _head(F.col("_m_fuzzy"), "_cluster", order)[0])
    else:
        df = df.withColumn("_cluster", F.col("id")).withColumn("_fuzzy", F.col("id"))
    df = df.drop("bands", "hashes")
    kept = alive & (F.col("_fuzzy") == F.col("id"))

    # follow the absorptions back: a group's first row is its survivor, whose own head is already known
    df = df.withColumn("_root", F.col("_fuzzy"))
    if config.exact.enabled:
        df = df.withColumn("_root", _head(F.col("_m_exact"), "exact", order, "_root")[1])
    if config.url.enabled:
        df = df.withColumn("_root", _head(F.col("_m_url"), "url_key", url_order, "_root")[1])
    df = df.withColumn("_root", F.first("_root").over(by_read))  # later reads follow the first
    # a survivor's cluster size: every read absorbed into it, itself included
    df = df.withColumn("_size", F.count(F.lit(1)).over(Window.partitionBy("_root")))
    df = keep(
        df.select(
            "id",
            F.col("task").cast("int").alias("task"),
            F.col("row").cast("long").alias("row"),
            F.when(kept, F.lit(KEPT)).otherwise(F.lit(DROPPED)).alias("status"),
            F.when(~F.col("_first"), F.lit(DUP_ID))
            .when(F.col("empty"), F.lit(EMPTY_REASON))
            .when(F.col("_url") != F.col("id"), F.lit(DUP_URL))
            .when(F.col("_exact") != F.col("id"), F.lit(DUP_EXACT))
            .when(F.col("_fuzzy") != F.col("id"), F.lit(DUP_FUZZY))
            .alias("reason"),
            F.when(~kept & (~F.col("empty") | ~F.col("_first")), F.col("_root")).alias("kept_id"),
            F.when(kept, F.col("_cluster")).alias("cluster"),
            F.when(kept, F.col("_size")).cast("long").alias("cluster_size"),
            "shingles",
            "empty",
            "_m_url",
            "_m_exact",
            "_m_fuzzy",
        )
    )
    writer = df.select(*DECISION_SCHEMA.names).repartition(partitions, "task").sortWithinPartitions("task", "row").write
    # the whole directory is replaced, and without Spark's _SUCCESS: the job writes that marker itself once
    # the summary is saved
    writer = writer.option("partitionOverwriteMode", "static").option(
        "mapreduce.fileoutputcommitter.marksuccessfuljobs", "false"
    )
    writer.partitionBy("task").parquet(join(job.output, "_work", "decisions"), mode="overwrite")

    def count(condition):
        return F.sum(condition.cast("long"))

    totals = df.agg(
        count(F.col("empty")).alias("empty"),
        count(F.col("reason") == DUP_ID).alias(DUP_ID),
        count(F.col("_m_url")).alias("_url_members"),
        count(F.col("reason") == DUP_URL).alias(DUP_URL),
        count(F.col("_m_exact")).alias("_exact_members"),
        count(F.col("reason") == DUP_EXACT).alias(DUP_EXACT),
        count(F.col("_m_fuzzy")).alias("_fuzzy_members"),
        count(F.col("reason") == DUP_FUZZY).alias(DUP_FUZZY),
    ).collect()[0]
    return _stats(config, {k: int(v or 0) for k, v in totals.asDict().items()}, candidates, verified)


def _stats(config, totals: dict, candidates: int | None, verified: int | None) -> dict:
    """The keys ``decide`` sets: a phase reports its count when it had members, as there."""
    stats = {"empty": totals["empty"]}
    if totals[DUP_ID]:
        stats[DUP_ID] = totals[DUP_ID]
    if config.url.enabled and totals["_url_members"]:
        stats[DUP_URL] = totals[DUP_URL]
    if config.exact.enabled and totals["_exact_members"]:
        stats[DUP_EXACT] = totals[DUP_EXACT]
    if config.fuzzy.enabled:
        stats["candidate_pairs"] = candidates
        if verified is not None:
            stats["verified_pairs"] = verified
        if totals["_fuzzy_members"]:
            stats[DUP_FUZZY] = totals[DUP_FUZZY]
    return stats


def _lsh_edges(members, chain: bool, partitions: int):
    """Distinct (u, v) pairs, u < v: each bucket's members to its smallest id and, with ``chain``, to the
    previous id when that is not the smallest."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    exploded = members.select("id", F.posexplode("bands").alias("_band", "_key"))
    bucket = Window.partitionBy("_band", "_key").orderBy("id")
    exploded = exploded.repartition(partitions, "_band", "_key")
    exploded = exploded.select("id", F.first("id").over(bucket).alias("_head"), F.lag("id").over(bucket).alias("_prev"))
    # one row, two candidate edges: to the bucket's head, and (chain) to the previous member
    to_head = F.when(F.col("id") != F.col("_head"), F.col("_head"))
    to_prev = F.when(F.col("_prev") != F.col("_head"), F.col("_prev")) if chain else F.lit(None).cast("string")
    edges = exploded.select(F.explode(F.array(to_head, to_prev)).alias("u"), F.col("id").alias("v"))
    return edges.where(F.col("u").isNotNull()).repartition(partitions, "u", "v").distinct()


def _verified(edges, members, threshold: float):
    """The pairs whose true Jaccard (of the shingle hash sets) reaches ``threshold``."""
    from pyspark.sql import functions as F

    hashes = members.select("id", "hashes")
    pairs = edges.join(hashes.select(F.col("id").alias("u"), F.col("hashes").alias("_ha")), "u").join(
        hashes.select(F.col("id").alias("v"), F.col("hashes").alias("_hb")), "v"
    )
    inter = F.size(F.array_intersect("_ha", "_hb"))
    union = F.size("_ha") + F.size("_hb") - inter
    similarity = F.when(union == 0, F.lit(1.0)).otherwise(inter / union)
    return pairs.where(similarity >= F.lit(float(threshold))).select("u", "v")

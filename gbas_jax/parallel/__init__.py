"""Many queries: batches mapped or vmapped over a query axis, sharded over local
devices, split into memory-sized chunks, and multi-host runs."""

from .batch import compiled_batch_bytes, egbas_batch, egbas_batch_keys, generator_bytes, memory_per_query
from .sharding import query_mesh

__all__ = ["compiled_batch_bytes", "egbas_batch", "egbas_batch_keys", "generator_bytes", "memory_per_query",
           "query_mesh"]

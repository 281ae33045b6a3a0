"""Durable async invocations: enqueue (group-committed before the 202), lease-based dispatch
through the invoker, retries, event age, destinations and the dead-letter store."""

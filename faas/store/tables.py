"""The schema, private to `faas.store`: only repos and the migrations use these tables.

Portable SQLAlchemy Core, for SQLite and PostgreSQL alike. These definitions describe the
schema at the newest revision; the revisions in `migrations/versions/` create it, and a test
fails while the two disagree, so a change here comes with a new revision.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid alias); BIGINT would not.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

functions = Table(
    "functions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("runtime", String(64), nullable=False),
    Column("handler", String(128), nullable=False),
    Column("role", String(2048), nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("timeout_s", Integer, nullable=False),
    Column("ephemeral_storage_mb", Integer, nullable=False),
    # A JSON object of str -> str, sealed under the master key (faas.store.sealing): the
    # database never holds an environment value in plaintext.
    Column("environment", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("code_sha256", String(64), nullable=False, index=True),
    Column("code_size", BigInteger, nullable=False),
    Column("revision_id", String(64), nullable=False),
    Column("last_modified", String(32), nullable=False),
    Column("version", String(32), nullable=False, server_default="$LATEST"),
    Column("network", String(16), nullable=False, server_default="default"),
    # FaasNetworkAllow, a JSON list of "CIDR[:PORT[-PORT]]".
    Column("network_allow", Text, nullable=False, server_default="[]"),
    # PutFunctionConcurrency; NULL = no reservation (0 is a real value: always throttled).
    Column("reserved_concurrency", Integer, nullable=True),
    # A server default, so old databases gain the column with every function switched off.
    Column("snap_start", Boolean, nullable=False, server_default=false()),
    # PutProvisionedConcurrencyConfig; NULL = none configured.
    Column("provisioned_concurrency", Integer, nullable=True),
    # The function's own uid as an offset from sandbox.first_uid: given once at create, never
    # shared, kept across restarts (files a function leaves, e.g. in /tmp, stay its own).
    Column("sandbox_uid", Integer, nullable=True),
    # KMSKeyArn as the caller gave it: recorded and returned (faas seals with its own key).
    Column("kms_key_arn", String(2048), nullable=True),
    # See FunctionConfig.role_passed.
    Column("role_passed", Boolean, nullable=False, server_default=false()),
    # FileSystemConfigs, a JSON list of [Arn, LocalMountPath].
    Column("file_system_configs", Text, nullable=False, server_default="[]"),
    # PutFunctionRecursionConfig: Terminate or Allow.
    Column("recursive_loop", String(16), nullable=False, server_default="Terminate"),
    # LoggingConfig, a JSON object of the members that were given ({}: Text, the function's
    # own log group: what every function had before LoggingConfig existed).
    Column("logging_config", Text, nullable=False, server_default="{}"),
    # PublishVersion: the number of the newest version ever published (0: none; numbers are
    # never given twice, even after a version is deleted), and the revision of $LATEST it was
    # published from (publishing an unchanged $LATEST again answers that version).
    Column("last_version", Integer, nullable=False, server_default="0"),
    Column("last_published_revision", String(64), nullable=True),
    Index("ix_functions_sandbox_uid", "sandbox_uid", unique=True),
)

# PublishVersion: immutable snapshots of a function's $LATEST (code and configuration),
# numbered 1, 2, ... per function. The environment is sealed as in `functions`, bound to the
# function's name. Rows go with their function.
function_versions = Table(
    "function_versions",
    metadata,
    Column("function_name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("runtime", String(64), nullable=False),
    Column("handler", String(128), nullable=False),
    Column("role", String(2048), nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("timeout_s", Integer, nullable=False),
    Column("ephemeral_storage_mb", Integer, nullable=False),
    Column("environment", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("code_sha256", String(64), nullable=False),
    Column("code_size", BigInteger, nullable=False),
    Column("revision_id", String(64), nullable=False),
    Column("last_modified", String(32), nullable=False),
    Column("network", String(16), nullable=False),
    Column("network_allow", Text, nullable=False),
    Column("snap_start", Boolean, nullable=False),
    Column("sandbox_uid", Integer, nullable=True),
    Column("kms_key_arn", String(2048), nullable=True),
    Column("role_passed", Boolean, nullable=False),
    Column("file_system_configs", Text, nullable=False),
    Column("recursive_loop", String(16), nullable=False),
    Column("logging_config", Text, nullable=False),
    # A bundle stays on disk while any version still runs it.
    Index("ix_function_versions_code_sha256", "code_sha256"),
)

# CreateAlias: a name for one version of a function ($LATEST or a published one), with at
# most one additional published version that gets `additional_weight` (0..1) of the
# invocations (AliasRoutingConfiguration). Rows go with their function.
function_aliases = Table(
    "function_aliases",
    metadata,
    Column("function_name", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("function_version", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("revision_id", String(64), nullable=False),
    Column("additional_version", String(32), nullable=True),
    Column("additional_weight", Float, nullable=True),
)

# Longest error type kept in a record; repos truncate so one odd exception name cannot fail
# the batch it rides in.
ERROR_TYPE_MAX = 128
ISOLATION_MAX = 128

invocations = Table(
    "invocations",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("request_id", String(36), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("function_version", String(32), nullable=False),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("billed_ms", Integer, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("max_memory_used_mb", Integer, nullable=False),
    Column("init_duration_ms", Float, nullable=True),
    Column("status", String(16), nullable=False),
    Column("error_type", String(ERROR_TYPE_MAX), nullable=True),
    # Added after the first release: NULL in records from before it.
    Column("isolation", String(ISOLATION_MAX), nullable=True),
    # RequestResponse or Event, and which attempt of an async event it was (1 for sync).
    Column("invocation_type", String(16), nullable=False, server_default="RequestResponse"),
    Column("attempt", Integer, nullable=False, server_default="1"),
    # The function's EphemeralStorage (MB) and whether a provisioned worker served it: both
    # change what the invocation costs (storage above 512 MB; provisioned duration price).
    Column("ephemeral_storage_mb", Integer, nullable=False, server_default="512"),
    Column("provisioned", Boolean, nullable=False, server_default=false()),
    # A record is one attempt of one request: an async event's retries keep its request id.
    Index("ix_invocations_request_id_attempt", "request_id", "attempt", unique=True),
    # "Newest first for one function" walks this index backwards.
    Index("ix_invocations_function_name_id", "function_name", "id"),
)

# API access keys. The secret is needed to verify SigV4 (an HMAC keyed by it), so it cannot be
# hashed: it is stored encrypted under the master key, which never enters the database.
access_keys = Table(
    "access_keys",
    metadata,
    # The principal's name (one key per name; rotating replaces the key in place).
    Column("name", String(64), primary_key=True),
    Column("access_key_id", String(32), nullable=False, unique=True),
    Column("secret_encrypted", LargeBinary, nullable=False),
    # The IAM-style policy document, as JSON text.
    Column("policy", Text, nullable=False),
    Column("created", String(32), nullable=False),
)

# Execution roles: what a function whose Role names one may do with the API (its temporary
# credentials are scoped to this policy). No secret here: credentials are derived per worker.
roles = Table(
    "roles",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("policy", Text, nullable=False),
    Column("created", String(32), nullable=False),
)

# Longest values kept in an audit event; repos truncate so one odd request (a very long path
# or method) cannot fail the batch it rides in.
AUDIT_ACTION_MAX = 128
AUDIT_RESOURCE_MAX = 2048
AUDIT_PATH_MAX = 1024
AUDIT_METHOD_MAX = 16
AUDIT_ERROR_CODE_MAX = 64
AUDIT_SOURCE_MAX = 64

# The audit log: management calls and refused calls, written in batches off the event loop.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("time_ms", BigInteger, nullable=False),
    Column("request_id", String(36), nullable=False),
    # NULL when the caller was not authenticated.
    Column("key_id", String(32), nullable=True),
    Column("key_name", String(64), nullable=True),
    Column("action", String(AUDIT_ACTION_MAX), nullable=False),
    Column("resource", String(AUDIT_RESOURCE_MAX), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("status", Integer, nullable=False),
    Column("error_code", String(AUDIT_ERROR_CODE_MAX), nullable=True),
    Column("method", String(AUDIT_METHOD_MAX), nullable=False),
    Column("path", String(AUDIT_PATH_MAX), nullable=False),
    Column("source_ip", String(AUDIT_SOURCE_MAX), nullable=False),
    # "Newest first" and "since" walk this one; so does the retention delete.
    Index("ix_audit_events_time_ms", "time_ms"),
    Index("ix_audit_events_key_name", "key_name", "time_ms"),
    Index("ix_audit_events_key_id", "key_id", "time_ms"),
)

# Async invocations waiting to run, or running under a lease (faas/queue). A row leaves when
# its event completed (or went to a destination or the dead-letter store) in one transaction.
event_queue = Table(
    "event_queue",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("request_id", String(36), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("qualifier", String(128), nullable=True),
    Column("payload", LargeBinary, nullable=False),
    Column("client_context", Text, nullable=True),
    Column("enqueued_at_ms", BigInteger, nullable=False),
    # Attempts started so far (a lease taken counts one; a throttled one is given back).
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Not claimed before this moment (a retry's backoff, a throttled event's wait).
    Column("not_before_ms", BigInteger, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_ms", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_event_queue_request_id", "request_id", unique=True),
    Index("ix_event_queue_not_before_ms", "not_before_ms"),
    Index("ix_event_queue_function_name", "function_name"),
)

# PutFunctionEventInvokeConfig, per function and qualifier; NULL fields take Lambda's defaults.
event_invoke_configs = Table(
    "event_invoke_configs",
    metadata,
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("maximum_retry_attempts", Integer, nullable=True),
    Column("maximum_event_age_s", Integer, nullable=True),
    Column("on_success", String(2048), nullable=True),
    Column("on_failure", String(2048), nullable=True),
    Column("last_modified_ms", BigInteger, nullable=False),
)

# Events that failed every attempt with no failure destination, kept to be listed and re-driven.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("request_id", String(36), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("qualifier", String(128), nullable=True),
    Column("payload", LargeBinary, nullable=False),
    Column("client_context", Text, nullable=True),
    Column("enqueued_at_ms", BigInteger, nullable=False),
    Column("failed_at_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    # RetriesExhausted or EventAgeExceeded, as Lambda names them.
    Column("condition", String(32), nullable=False),
    Column("last_error", Text, nullable=True),
    Index("ix_dead_letters_request_id", "request_id", unique=True),
    Index("ix_dead_letters_function_name", "function_name", "id"),
    Index("ix_dead_letters_failed_at_ms", "failed_at_ms"),
)

# Buckets made through the API (`faas bucket add`); [buckets] in config.toml are not stored.
buckets = Table(
    "buckets",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("path", Text, nullable=False),
    Column("writable", Boolean, nullable=False, server_default=false()),
    Column("created_ms", BigInteger, nullable=False),
)

# Which files of a bucket invoke which function (faas/triggers/filewatch.py).
bucket_triggers = Table(
    "bucket_triggers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("function_name", String(64), nullable=False),
    Column("bucket", String(63), nullable=False),
    Column("prefix", Text, nullable=False),
    Column("suffix", Text, nullable=False),
    # Comma-separated: ObjectCreated, ObjectRemoved.
    Column("events", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_bucket_triggers_bucket", "bucket"),
)

# The delivery ledger: per trigger and key, the version of the file last delivered. A row
# changes in the same transaction as the queued event it caused, so a version is delivered
# once; a removal deletes the row with its event. Comparing a directory with these rows
# finds what changed while nobody watched.
bucket_ledger = Table(
    "bucket_ledger",
    metadata,
    Column("trigger_id", String(36), primary_key=True),
    Column("key", String(1024), primary_key=True),
    Column("inode", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("depth", Integer, nullable=False, server_default="1"),
    # The request id of the event that delivered this version (empty for a baseline row:
    # a file already there when the trigger was made, which S3 would not announce either).
    Column("request_id", String(36), nullable=False),
    Column("delivered_ms", BigInteger, nullable=False),
)

# Schedule triggers (faas/triggers/schedule.py): EventBridge rate/cron expressions in UTC.
# `last_tick_ms` is the last tick fired: a tick is claimed by moving it forward, in the same
# transaction as its queued event, so it fires at most once (across restarts and nodes).
schedules = Table(
    "schedules",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("function_name", String(64), nullable=False),
    Column("expression", String(256), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_tick_ms", BigInteger, nullable=True),
)

# Function URLs (CreateFunctionUrlConfig): one per function and qualifier ($LATEST or an
# alias), served under /urls/<url_id>/. `cors` is Lambda's Cors object as JSON; times in
# Lambda's ISO format.
function_urls = Table(
    "function_urls",
    metadata,
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("url_id", String(64), nullable=False),
    Column("auth_type", String(16), nullable=False),
    Column("cors", Text, nullable=True),
    Column("invoke_mode", String(32), nullable=False),
    Column("created", String(32), nullable=False),
    Column("last_modified", String(32), nullable=False),
    Index("ix_function_urls_url_id", "url_id", unique=True),
)

# What a month of records bills, per function: kept up in the same transaction that ingests
# the records (only rows really inserted count, so a replay adds nothing), and never deleted
# with the records, so that a month bills the same once its records are gone.
billing_rollups = Table(
    "billing_rollups",
    metadata,
    Column("month", String(7), primary_key=True),  # YYYY-MM, UTC
    Column("function_name", String(64), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("billed_ms", BigInteger, nullable=False),
    # Sum of billed ms x MemorySize (MB): GB-seconds are this / 1024 / 1000, exactly.
    Column("billed_mb_ms", BigInteger, nullable=False),
    # The part of billed_mb_ms that provisioned workers served (their own duration price).
    Column("provisioned_mb_ms", BigInteger, nullable=False, server_default="0"),
    # Sum of billed ms x EphemeralStorage above the free 512 MB.
    Column("ephemeral_mb_ms", BigInteger, nullable=False, server_default="0"),
)

# The same per function and per tag the function had when it was invoked (as cost allocation
# tags work): a bill grouped by a tag's values, exact after retention and after retagging.
billing_tag_rollups = Table(
    "billing_tag_rollups",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(256), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("billed_ms", BigInteger, nullable=False),
    Column("billed_mb_ms", BigInteger, nullable=False),
    Column("provisioned_mb_ms", BigInteger, nullable=False),
    Column("ephemeral_mb_ms", BigInteger, nullable=False),
)

# TagResource: a function's tags (deleted with the function; its rollups stay).
function_tags = Table(
    "function_tags",
    metadata,
    Column("function_name", String(64), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(256), nullable=False),
)

# How long provisioned concurrency was configured, at which memory size: billed for the time
# it is allocated (in 5-minute increments), whether or not it serves. An open interval has
# no end yet. Kept, like the rollups, after the records are gone.
provisioned_allocations = Table(
    "provisioned_allocations",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("function_name", String(64), nullable=False),
    # $LATEST, a version number or an alias name: what the workers were provisioned for.
    Column("qualifier", String(128), nullable=False, server_default="$LATEST"),
    Column("workers", Integer, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("ended_at_ms", BigInteger, nullable=True),
    Index("ix_provisioned_allocations_function_name", "function_name"),
)

# Provisioned concurrency of published versions and aliases (PutProvisionedConcurrencyConfig
# with a qualifier); $LATEST's is the `provisioned_concurrency` of its function's row.
provisioned_configs = Table(
    "provisioned_configs",
    metadata,
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("requested", Integer, nullable=False),
    Column("last_modified", String(32), nullable=False),
)

# Function logs (faas.store.logs): CloudWatch Logs' log groups, and one row per invocation of
# its framed events, so concurrent invocations never mix and a page is a few rows.
log_groups = Table(
    "log_groups",
    metadata,
    Column("name", String(512), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    # PutRetentionPolicy; NULL = the server's default (logs.retention_days).
    Column("retention_days", Integer, nullable=True),
    # Sum of its chunks' bytes, kept with every insert and delete (the size cap reads it).
    Column("stored_bytes", BigInteger, nullable=False, server_default="0"),
)

log_chunks = Table(
    "log_chunks",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("log_group", String(512), nullable=False),
    Column("log_stream", String(512), nullable=False),
    Column("request_id", String(36), nullable=False),
    Column("first_ms", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
    Column("ingested_ms", BigInteger, nullable=False),
    Column("bytes", Integer, nullable=False),
    # A JSON array of [epoch ms, message], in order.
    Column("events", Text, nullable=False),
    Index("ix_log_chunks_group_first", "log_group", "first_ms", "id"),
    Index("ix_log_chunks_group_stream", "log_group", "log_stream", "id"),
    Index("ix_log_chunks_group_id", "log_group", "id"),
    Index("ix_log_chunks_request_id", "request_id"),
)

# AddPermission: a function's resource policy, one statement a row (the statement as Lambda
# returns it, JSON). The qualifier is "" for the function itself.
function_policies = Table(
    "function_policies",
    metadata,
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("statement_id", String(100), primary_key=True),
    Column("statement", Text, nullable=False),
)

# PublishLayerVersion: a layer's version counter. The row stays when its versions are deleted,
# so a version number is never given twice.
layers = Table(
    "layers",
    metadata,
    Column("name", String(140), primary_key=True),
    Column("last_version", Integer, nullable=False),
)

# One immutable version of a layer; its zip lives in the layer store, by sha256. JSON lists of
# strings for the compatible runtimes and architectures; `policy_revision` changes with every
# change of its permissions.
layer_versions = Table(
    "layer_versions",
    metadata,
    Column("layer_name", String(140), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("created", String(32), nullable=False),
    Column("compatible_runtimes", Text, nullable=False),
    Column("compatible_architectures", Text, nullable=False),
    Column("license_info", Text, nullable=True),
    Column("code_sha256", String(64), nullable=False),
    Column("code_size", BigInteger, nullable=False),
    Column("unzipped_size", BigInteger, nullable=False),
    Column("policy_revision", String(64), nullable=False),
    Index("ix_layer_versions_code_sha256", "code_sha256"),
)

# AddLayerVersionPermission: one statement a row (the statement as Lambda returns it, JSON).
# Rows go with their layer version.
layer_version_permissions = Table(
    "layer_version_permissions",
    metadata,
    Column("layer_name", String(140), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("statement_id", String(100), primary_key=True),
    Column("statement", Text, nullable=False),
)

# A function's Layers, in order, for $LATEST (version 0) and each published version. The
# layer version's content is named here too: a function keeps using a layer version deleted
# since (its zip stays while any row names it). Rows go with their function or version.
function_layers = Table(
    "function_layers",
    metadata,
    Column("function_name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("layer_arn", String(2048), nullable=False),
    Column("code_sha256", String(64), nullable=False),
    Column("code_size", BigInteger, nullable=False),
    Column("unzipped_size", BigInteger, nullable=False),
    Index("ix_function_layers_code_sha256", "code_sha256"),
)

"""The platform's vocabulary as frozen dataclasses: no I/O, nothing from the rest of faas.

Every message between layers is one of these; JSON exists only at the edges (gateway, CLI,
worker protocol).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

LATEST = "$LATEST"
# RecursiveLoop values (PutFunctionRecursionConfig); a loop is stopped after this many rounds.
RECURSIVE_LOOP_TERMINATE = "Terminate"
RECURSIVE_LOOP_ALLOW = "Allow"
MAX_RECURSION_DEPTH = 16
# Network modes (FaasNetwork, a faas extension to Lambda's configuration):
#   egress     a network namespace of the worker's own: the world beyond the host through NAT,
#              nothing of the host (as a Lambda function reaches the internet, never its host);
#   allowlist  the same, but only the destinations in FaasNetworkAllow (in the spirit of VpcConfig);
#   none       no network at all;
#   host       the host's own network, loopback included: unsafe, an explicit opt-in;
#   default    whatever the server's sandbox.default_network says (egress unless changed).
NETWORK_MODES = ("default", "egress", "allowlist", "none", "host")
# Most FaasNetworkAllow entries per function.
MAX_NETWORK_ALLOW = 64

MB = 1024 * 1024

# Lambda's naming rule for a function name (the short form, without an ARN).
FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
# `module.function`, where module may be a dotted path inside the code (pkg.mod.handler).
HANDLER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+\Z")
ENV_KEY_RE = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])*\Z")
# Lambda's rule for a layer's name (LayerName, without an ARN).
LAYER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,140}\Z")
# Most layers one function may use (Lambda's quota).
MAX_FUNCTION_LAYERS = 5
# Lambda's rule for a FileSystemConfigs LocalMountPath (a Mount's target).
MOUNT_TARGET_RE = re.compile(r"^/mnt/[A-Za-z0-9_.-]+\Z")

# Lambda sets these itself; a function may not define them (Lambda answers 400 too).
RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


@dataclass(frozen=True, slots=True)
class NetworkDestination:
    """One FaasNetworkAllow entry: `CIDR`, `CIDR:PORT` or `CIDR:LOW-HIGH` (IPv4)."""

    network: ipaddress.IPv4Network
    ports: tuple[int, int] | None = None  # None: every port

    @classmethod
    def parse(cls, text: str) -> NetworkDestination:
        """ValueError, with the reason, for anything else."""
        address, _, port_text = text.strip().partition(":")
        try:
            network = ipaddress.IPv4Network(address, strict=False)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {address!r} is not an IPv4 address or CIDR") from exc
        if not port_text:
            return cls(network)
        low_text, _, high_text = port_text.partition("-")
        try:
            low, high = int(low_text), int(high_text or low_text)
        except ValueError as exc:
            raise ValueError(f"{text!r}: ports are PORT or LOW-HIGH") from exc
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"{text!r}: ports are between 1 and 65535, low first")
        return cls(network, (low, high))


@dataclass(frozen=True, slots=True)
class FileSystemConfig:
    """One FileSystemConfigs entry: what to mount (`arn`) at `local_mount_path` (/mnt/...).

    Lambda takes one entry naming an EFS access point; faas takes several, each naming a
    bucket as `arn:aws:s3:::NAME` (an extension, see docs/buckets.md)."""

    arn: str
    local_mount_path: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Lambda's quotas, the ones faas enforces."""

    min_memory_mb: int = 128
    max_memory_mb: int = 10240
    min_timeout_s: int = 1
    max_timeout_s: int = 900
    min_ephemeral_mb: int = 512
    max_ephemeral_mb: int = 10240
    max_zip_bytes: int = 50 * MB
    max_unzipped_bytes: int = 250 * MB
    max_sync_payload_bytes: int = 6 * MB
    max_async_payload_bytes: int = 1 * MB
    max_env_bytes: int = 4 * 1024


@dataclass(frozen=True, slots=True)
class LayerRef:
    """One entry of a function's Layers, as the function took it: a layer version is immutable,
    so its content stays the function's even after DeleteLayerVersion (as on Lambda)."""

    arn: str  # arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION
    code_sha256: str  # hex digest of the layer's zip
    code_size: int  # bytes of the zip (the API's CodeSize)
    unzipped_size: int  # bytes of its files (counted against the function's unzipped limit)


@dataclass(frozen=True, slots=True)
class LayerVersion:
    """PublishLayerVersion's result: one immutable, numbered version of a layer."""

    layer_name: str
    version: int
    description: str
    created: str  # AWS's format: 2024-01-01T00:00:00.000+0000
    compatible_runtimes: tuple[str, ...]
    compatible_architectures: tuple[str, ...]
    license_info: str | None
    code_sha256: str
    code_size: int
    unzipped_size: int
    # New on every change of its permissions (AddLayerVersionPermission's RevisionId).
    policy_revision: str


@dataclass(frozen=True, slots=True)
class LayerStatement:
    """One statement of a layer version's permissions (AddLayerVersionPermission), as stored."""

    layer_name: str
    version: int
    statement_id: str
    statement: str  # the statement as Lambda returns it, JSON


@dataclass(frozen=True, slots=True)
class PolicyStatement:
    """One statement of a function's resource policy (AddPermission), as stored."""

    function_name: str
    qualifier: str  # "" for the function itself
    statement_id: str
    statement: str  # the statement as Lambda returns it, JSON


@dataclass(frozen=True, slots=True)
class AccountUsage:
    """GetAccountSettings' figures from the configuration and the functions."""

    concurrent_executions: int
    unreserved_concurrent_executions: int
    function_count: int
    total_code_size: int


class InvocationType(enum.StrEnum):
    REQUEST_RESPONSE = "RequestResponse"
    EVENT = "Event"
    DRY_RUN = "DryRun"


class InvocationStatus(enum.StrEnum):
    """How an invocation ended, as recorded. A function error is `Unhandled`, as Lambda says."""

    SUCCESS = "Success"
    UNHANDLED = "Unhandled"


# LoggingConfig's values, as Lambda's model lists them (levels least severe first).
LOG_FORMAT_TEXT = "Text"
LOG_FORMAT_JSON = "JSON"
LOG_FORMATS = (LOG_FORMAT_JSON, LOG_FORMAT_TEXT)
APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
# With JSON, a level that was not given is Lambda's default.
DEFAULT_LOG_LEVEL = "INFO"
# Lambda's rule for a LogGroup name (1 to 512 characters).
LOG_GROUP_RE = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}\Z")


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """Lambda's LoggingConfig: the format of a function's logs, and with JSON the least
    level of its own (application) and of the platform's (system) lines that is kept."""

    log_format: str = LOG_FORMAT_TEXT  # Text or JSON
    application_log_level: str | None = None  # with JSON: TRACE..FATAL (Lambda's default INFO)
    system_log_level: str | None = None  # with JSON: DEBUG, INFO or WARN (default INFO)
    log_group: str | None = None  # None: /aws/lambda/<function name>

    def group_for(self, function_name: str) -> str:
        return self.log_group or f"/aws/lambda/{function_name}"

    @property
    def application_level_in_effect(self) -> str | None:
        """The application level the function runs with: None with Text (no filtering)."""
        if self.log_format != LOG_FORMAT_JSON:
            return None
        return self.application_log_level or DEFAULT_LOG_LEVEL

    @property
    def system_level_in_effect(self) -> str | None:
        """The system level the platform's lines are kept at: None with Text."""
        if self.log_format != LOG_FORMAT_JSON:
            return None
        return self.system_log_level or DEFAULT_LOG_LEVEL


@dataclass(frozen=True, slots=True)
class LogChunk:
    """One invocation's log events, framed (START ... REPORT), as they are stored: the
    unit of the log store (one row), so concurrent invocations never mix their lines."""

    log_group: str
    log_stream: str
    request_id: str
    # (epoch ms, message) in order; a message is one line without its newline.
    events: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """One function version's configuration, as stored and as served by the API."""

    name: str
    runtime: str
    handler: str
    role: str
    memory_mb: int
    timeout_s: int
    ephemeral_storage_mb: int
    environment: Mapping[str, str]
    description: str
    code_sha256: str  # hex digest of the zip; the API's CodeSha256 is its base64 form
    code_size: int
    revision_id: str  # new on every code or configuration change
    last_modified: str  # AWS's format: 2024-01-01T00:00:00.000+0000
    version: str = LATEST
    network: str = "default"  # faas extension: "none" = own empty network namespace
    # PutFunctionConcurrency: at most this many run at once, set aside from the shared pool;
    # None = no reservation (the function shares the unreserved pool), 0 = always throttled.
    reserved_concurrency: int | None = None
    # Snapshot start: workers fork from a template that already ran the function's init.
    snap_start: bool = False
    # PutProvisionedConcurrencyConfig: this many workers kept initialised ahead of requests;
    # None = no provisioned concurrency configured.
    provisioned_concurrency: int | None = None
    # Its workers' uid, as an offset from sandbox.first_uid (unique; set at create).
    sandbox_uid: int | None = None
    # FaasNetworkAllow: with FaasNetwork=allowlist, the only destinations ("10.0.0.0/8:5432").
    network_allow: tuple[str, ...] = ()
    # KMSKeyArn, recorded as given: faas seals the environment with its own master key.
    kms_key_arn: str | None = None
    # Whoever last set `role` was allowed iam:PassRole on it, and it was a faas role then: only
    # then do its workers get the role's credentials (a role made later under a name some
    # function already gives does not hand that function credentials nobody passed it).
    role_passed: bool = False
    # FileSystemConfigs: buckets (and nothing else) mounted under /mnt/ in its workers.
    file_system_configs: tuple[FileSystemConfig, ...] = ()
    # PutFunctionRecursionConfig: Terminate (Lambda's default) stops a recursive loop of
    # bucket events after MAX_RECURSION_DEPTH rounds; Allow lets it run.
    recursive_loop: str = "Terminate"
    # LoggingConfig: the format of its logs (and levels with JSON), and its log group.
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    # Layers: the layer versions bound read-only at /opt in its workers, in order (a later
    # layer's file wins over an earlier one's).
    layers: tuple[LayerRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Alias:
    """CreateAlias: a name for one version of a function ($LATEST or a published number),
    which may send a share of the invocations to one additional published version
    (AliasRoutingConfiguration's AdditionalVersionWeights)."""

    function_name: str
    name: str
    function_version: str
    description: str
    revision_id: str  # new on every change
    additional_version: str | None = None
    additional_weight: float = 0.0  # 0..1: the share of invocations additional_version gets

    def references(self, version: str) -> bool:
        return version in (self.function_version, self.additional_version)


@dataclass(frozen=True, slots=True)
class AliasChange:
    """UpdateAlias input: None means "leave as is"; `routing` () removes the routing."""

    function_version: str | None = None
    description: str | None = None
    routing: tuple[tuple[str, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class ProvisionedConfig:
    """PutProvisionedConcurrencyConfig of a published version or an alias (`qualifier`): the
    workers to keep initialised for what it runs. $LATEST's is its function's
    `provisioned_concurrency` (a faas extension)."""

    function_name: str
    qualifier: str
    requested: int
    last_modified: str


@dataclass(frozen=True, slots=True)
class PublishedState:
    """A function's version counter: the newest number ever given, and the revision of
    $LATEST it was published from ("" before any)."""

    last_version: int = 0
    last_published_revision: str = ""


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """UpdateFunctionConfiguration / CreateFunction input: None means "leave as is"."""

    runtime: str | None = None
    handler: str | None = None
    role: str | None = None
    memory_mb: int | None = None
    timeout_s: int | None = None
    ephemeral_storage_mb: int | None = None
    environment: Mapping[str, str] | None = None
    description: str | None = None
    network: str | None = None
    snap_start: bool | None = None
    kms_key_arn: str | None = None  # "" removes it
    network_allow: tuple[str, ...] | None = None
    role_passed: bool | None = None  # set by the API with the role: see FunctionConfig
    file_system_configs: tuple[FileSystemConfig, ...] | None = None
    # LoggingConfig replaces the function's whole logging configuration, as on Lambda (a
    # member it leaves out goes back to its default).
    logging: LoggingConfig | None = None
    # Layers: layer version ARNs, in order; () removes them. The registry resolves them into
    # FunctionConfig.layers (LayerRef).
    layers: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Mount:
    """A host directory bound into a worker at `target` (a FileSystemConfigs LocalMountPath)."""

    source: str  # absolute host directory
    target: str  # "/mnt/<name>": MOUNT_TARGET_RE (Lambda's LocalMountPath rule)
    writable: bool = False
    # A supplementary gid the worker gets, so its per-function uid may write a writable bucket.
    group: int | None = None


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything the pool needs to start and run workers of one function version.

    `key` names the pool: it changes with every code or configuration update, so an update
    gets fresh workers and the old pool is retired.
    """

    key: str
    function_name: str
    version: str
    runtime: str
    handler: str
    memory_mb: int
    timeout_s: int
    ephemeral_storage_mb: int
    environment: Mapping[str, str]
    code_dir: str
    function_arn: str
    region: str
    network: str = "default"
    # Snapshot start: workers are forked from a template that already ran the function's init.
    snap_start: bool = False
    # The function's uid offset (FunctionConfig.sandbox_uid); None: the pool picks one.
    sandbox_uid: int | None = None
    # The function's Role ARN: a faas execution role gives its workers temporary credentials.
    role: str = ""
    network_allow: tuple[NetworkDestination, ...] = ()
    # Host directories bound under /mnt in every worker (docs/sandbox.md, Mounts).
    mounts: tuple[Mount, ...] = ()
    # LoggingConfig, as the runtime sees it: AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL
    # (None with Text: the variable is not set) and AWS_LAMBDA_LOG_GROUP_NAME.
    log_format: str = LOG_FORMAT_TEXT
    log_level: str | None = None
    log_group: str = ""  # "": /aws/lambda/<function name>
    # The function's layers merged into one read-only tree, bound at /opt in its workers;
    # "" when it has none.
    opt_dir: str = ""


@dataclass(frozen=True, slots=True)
class InvocationRequest:
    """One invocation, as the gateway or a trigger hands it to the invoker."""

    request_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    invocation_type: InvocationType = InvocationType.REQUEST_RESPONSE
    tail_log: bool = False
    client_context: str | None = None  # raw JSON (already base64-decoded)


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """An async invocation in the queue (faas/queue): accepted, not yet done."""

    request_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    client_context: str | None
    enqueued_at_ms: int
    attempts: int = 0  # attempts started so far (the one running counts)
    not_before_ms: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An async event that failed for good with no OnFailure destination (faas/queue): kept to
    be listed, re-driven or deleted."""

    request_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    client_context: str | None
    enqueued_at_ms: int
    failed_at_ms: int
    attempts: int
    condition: str  # RetriesExhausted or EventAgeExceeded
    last_error: str | None


@dataclass(frozen=True, slots=True)
class EventInvokeConfig:
    """PutFunctionEventInvokeConfig of one function and qualifier; None: Lambda's default
    (2 retries, 6 hours, no destination)."""

    function_name: str
    qualifier: str
    maximum_retry_attempts: int | None
    maximum_event_age_s: int | None
    on_success: str | None
    on_failure: str | None
    last_modified_ms: int

    DEFAULT_RETRY_ATTEMPTS = 2
    DEFAULT_EVENT_AGE_S = 21600

    @property
    def retry_attempts(self) -> int:
        if self.maximum_retry_attempts is None:
            return self.DEFAULT_RETRY_ATTEMPTS
        return self.maximum_retry_attempts

    @property
    def event_age_s(self) -> int:
        if self.maximum_event_age_s is None:
            return self.DEFAULT_EVENT_AGE_S
        return self.maximum_event_age_s


@dataclass(frozen=True, slots=True)
class UrlCors:
    """A function URL's Cors settings, as given (None: the field was not given)."""

    allow_origins: tuple[str, ...] | None = None
    allow_methods: tuple[str, ...] | None = None
    allow_headers: tuple[str, ...] | None = None
    expose_headers: tuple[str, ...] | None = None
    max_age: int | None = None
    allow_credentials: bool | None = None

    def document(self) -> dict[str, Any]:
        """Lambda's Cors object: the fields that were given."""
        document: dict[str, Any] = {}
        for attribute, key in _CORS_FIELDS:
            value = getattr(self, attribute)
            if value is not None:
                document[key] = list(value) if isinstance(value, tuple) else value
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> UrlCors:
        """The settings of a Cors object whose fields have the right types already."""
        values: dict[str, Any] = {}
        for attribute, key in _CORS_FIELDS:
            value = document.get(key)
            if value is not None:
                values[attribute] = tuple(value) if isinstance(value, list) else value
        return cls(**values)


_CORS_FIELDS = (
    ("allow_origins", "AllowOrigins"),
    ("allow_methods", "AllowMethods"),
    ("allow_headers", "AllowHeaders"),
    ("expose_headers", "ExposeHeaders"),
    ("max_age", "MaxAge"),
    ("allow_credentials", "AllowCredentials"),
)


@dataclass(frozen=True, slots=True)
class FunctionUrlConfig:
    """CreateFunctionUrlConfig of one function's $LATEST or alias: served under
    /urls/<url_id>/. Times are strings in Lambda's format (2026-12-05T12:00:00.000000Z)."""

    function_name: str
    url_id: str
    auth_type: str  # NONE or AWS_IAM
    cors: UrlCors | None
    invoke_mode: str  # BUFFERED
    created: str
    last_modified: str
    qualifier: str = LATEST  # $LATEST or an alias name (Lambda has no URLs of versions)


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """What one worker reported for one invocation (the pool's answer to the invoker)."""

    payload: bytes  # the handler's JSON result, or the error document on failure
    error_type: str | None  # None on success, e.g. "ZeroDivisionError", "Runtime.ExitError"
    logs: bytes
    started_at_ms: int  # wall clock, epoch milliseconds
    duration_ns: int
    init_duration_ns: int | None  # set on the first invocation of a new worker only
    max_memory_bytes: int
    # Served by a worker kept ready by provisioned concurrency.
    provisioned: bool = False
    # When each part of `logs` arrived: (offset into logs, epoch ms), offsets rising; the
    # lines starting in a part carry its time.
    log_times: tuple[tuple[int, int], ...] = ()
    # The worker's log stream (YYYY/MM/DD/[$LATEST]<hex>); empty before a worker existed.
    log_stream: str = ""


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """What the caller gets back."""

    request_id: str
    payload: bytes
    function_error: str | None  # "Unhandled" when the function failed
    executed_version: str
    log_tail: bytes = b""


@dataclass(frozen=True, slots=True)
class Record:
    """The durable row of one invocation."""

    request_id: str
    function_name: str
    function_version: str
    started_at_ms: int
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None
    status: InvocationStatus
    error_type: str | None
    # The sandbox layers active for it, e.g. "cgroup-v1 mountns tmp-ext4 uid landlock-7
    # seccomp nnp" (see faas.pool.sandbox.isolation_tag); None in rows older than the field.
    isolation: str | None = None
    # How it was invoked (RequestResponse or Event) and, for an async event, which attempt.
    invocation_type: str = "RequestResponse"
    attempt: int = 1
    # What else it is billed by: the function's EphemeralStorage (above 512 MB costs) and
    # whether a provisioned worker served it (provisioned duration price).
    ephemeral_storage_mb: int = 512
    provisioned: bool = False


@dataclass(frozen=True, slots=True)
class FunctionPage:
    """One page of ListFunctions."""

    functions: tuple[FunctionConfig, ...]
    next_marker: str | None = None


@dataclass(frozen=True, slots=True)
class AliasPage:
    """One page of ListAliases."""

    aliases: tuple[Alias, ...]
    next_marker: str | None = None


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """A stored, validated code bundle."""

    sha256: str
    size: int
    code_dir: str
    files: tuple[str, ...] = field(default=())
    unzipped_size: int = 0  # bytes of its files, from the zip's central directory


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An API access key as the database keeps it: the secret sealed under the master key."""

    name: str
    access_key_id: str
    secret_encrypted: bytes
    policy: str  # the IAM-style policy document, JSON
    created: str  # ISO 8601, UTC


@dataclass(frozen=True, slots=True)
class StoredRole:
    """An execution role: a name and the IAM-style policy its functions' credentials carry."""

    name: str
    policy: str  # JSON
    created: str  # ISO 8601, UTC


@dataclass(frozen=True, slots=True)
class WorkerCredentials:
    """A worker's temporary API credentials (its function's execution role), as environment
    variables. Wall-clock times, in seconds since the epoch: they are checked against clocks
    of other processes (the gateway verifying a request signed with them)."""

    env: Mapping[str, str]
    expires_at: float
    # From then on the worker takes no new invocation (one may still need the credentials for
    # up to the function's timeout), and a fresh worker with fresh credentials is started.
    renew_after: float


class AuditOutcome(enum.StrEnum):
    """How an audited call went, as far as authorization is concerned."""

    # Authorized; its status and error code say whether the call itself then succeeded.
    ALLOWED = "allowed"
    # Refused: authentication (403), the key's policy (403) or the key's rate limit (429).
    DENIED = "denied"
    # Failed before any authorization decision (e.g. a malformed request).
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audited API call: a management call, or any call that was refused."""

    time_ms: int  # when it was answered, epoch milliseconds (UTC)
    request_id: str
    key_id: str | None  # None when the caller was not authenticated
    key_name: str | None
    # The action checked against the key's policy (`lambda:GetFunction`); when the call was
    # refused before that, the API operation (`GetFunction`).
    action: str
    resource: str | None  # the ARN the action was checked on; None before that
    outcome: AuditOutcome
    status: int  # the HTTP status answered
    error_code: str | None  # Lambda's error code of the answer, e.g. AccessDeniedException
    method: str
    path: str  # without the query string (it may hold a presigned signature)
    source_ip: str


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit events to list, newest first."""

    since_ms: int | None = None
    # A key's name or access key id.
    key: str | None = None
    # An AuditOutcome, or an error code (AccessDeniedException) or HTTP status (404).
    outcome: str | None = None
    limit: int = 50


class FileEventKind(enum.StrEnum):
    """What happened to a file in a bucket, as S3 names the event type families."""

    CREATED = "ObjectCreated"
    REMOVED = "ObjectRemoved"


@dataclass(frozen=True, slots=True)
class Bucket:
    """A name bound to a host directory; read-only to functions unless `writable`.

    `origin` is "config" for [buckets] in config.toml (changed there only) or "api"."""

    name: str
    path: str
    writable: bool = False
    origin: str = "api"
    # The group that may write it (a writable bucket's directory is given to this gid, and
    # workers that mount it writable get it as a supplementary group); None: no group set.
    group: int | None = None


@dataclass(frozen=True, slots=True)
class BucketTrigger:
    """Files landing in (or leaving) `bucket` under `prefix` and ending in `suffix` invoke
    `function_name` asynchronously with an S3 notification event."""

    id: str
    function_name: str
    bucket: str
    prefix: str = ""
    suffix: str = ""
    events: tuple[FileEventKind, ...] = (FileEventKind.CREATED,)
    created_ms: int = 0

    def matches(self, key: str, kind: FileEventKind) -> bool:
        return kind in self.events and key.startswith(self.prefix) and key.endswith(self.suffix)


@dataclass(frozen=True, slots=True)
class FileVersion:
    """One version of a file: an overwrite, a replace or a touch makes a new one."""

    inode: int
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class FileDelivery:
    """A file event for one trigger: to be committed, with its queued event, exactly once.

    `version` is None for a removal. `depth` is the round of a recursive chain this event
    belongs to (1: written by someone other than a function). `event` is None when a
    recursive loop was stopped: the version is on the books, nothing is invoked."""

    trigger_id: str
    key: str
    kind: FileEventKind
    version: FileVersion | None
    event: QueuedEvent | None
    depth: int = 1


@dataclass(frozen=True, slots=True)
class ScheduleTrigger:
    """`expression` (EventBridge's rate or cron, UTC) invokes `function_name` asynchronously
    with a Scheduled Event at every tick. `last_tick_ms`: the last tick fired (claimed)."""

    id: str
    function_name: str
    expression: str
    created_ms: int
    last_tick_ms: int | None = None


@dataclass(frozen=True, slots=True)
class RecordStats:
    """A function's invocation records since a moment, summed (faas stats)."""

    function_name: str
    since_ms: int
    invocations: int
    errors: Mapping[str, int]  # error type -> count
    cold_starts: int
    billed_ms: int
    # Sum of billed ms x MemorySize (MB): exact GB-seconds are this / 1024 / 1000.
    billed_mb_ms: int
    # The part of it provisioned workers served, and billed ms x storage above 512 MB.
    provisioned_mb_ms: int = 0
    ephemeral_mb_ms: int = 0
    # Durations (ms) of the newest records, sorted, for percentiles; `sampled` when there were
    # more records than were read.
    durations_ms: tuple[float, ...] = ()
    sampled: bool = False


# Seconds: the duration histograms' upper bounds, from a warm hello to Lambda's longest timeout.
DURATION_BUCKETS_S = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredSummary:
    """What one commit of the records ingester stored, summed by the database (the metrics'
    input). `counts`: (function, invocation type, status, error type, invocations, cold starts,
    billed ms x MemorySize); `durations` and `inits`: (function, bucket index into
    DURATION_BUCKETS_S, len(DURATION_BUCKETS_S) for beyond the last, count, sum of seconds)."""

    counts: tuple[tuple[str, str, str, str | None, int, int, int], ...] = ()
    durations: tuple[tuple[str, int, int, float], ...] = ()
    inits: tuple[tuple[str, int, int, float], ...] = ()


# -- function logs (faas.store.logs; the CloudWatch Logs API) --------------------------------


@dataclass(frozen=True, slots=True)
class LogEvent:
    log_stream: str
    timestamp_ms: int
    message: str
    ingestion_ms: int
    # Where it is: its chunk (one invocation's events) and its place in it.
    chunk_id: int
    index: int
    request_id: str


@dataclass(frozen=True, slots=True)
class LogGroupInfo:
    name: str
    created_ms: int
    retention_days: int | None
    stored_bytes: int


@dataclass(frozen=True, slots=True)
class LogStreamInfo:
    name: str
    created_ms: int
    first_event_ms: int
    last_event_ms: int
    last_ingestion_ms: int
    stored_bytes: int


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which events of a log group FilterLogEvents (or `faas logs`) wants."""

    log_group: str
    streams: tuple[str, ...] = ()
    stream_prefix: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None  # inclusive
    request_id: str | None = None
    # Only chunks up to this id (a history read before following from there on).
    upto_chunk_id: int | None = None
    # A predicate over a message (faas.logs.patterns), None: every event.
    matches: Callable[[str], bool] | None = None
    limit: int = 10_000


@dataclass(frozen=True, slots=True)
class LogPage:
    events: tuple[LogEvent, ...]
    # Where to go on from (an opaque position), None when nothing more is stored now.
    next_position: tuple[int, int, int] | None

"""The root of headwater's exceptions, and the one line that matters: whose fault is it.

A `UserError` is a mistake in what a person wrote (a manifest, a pipeline, a vars
file, a policy, a request): retrying changes nothing until that input changes. The CD
controller stops re-syncing a revision that failed with one (Flux's Stalled, kopf's
PermanentError) and the API answers it with 400 in one handler. Every other
`HeadwaterError` may pass (a network, a server, a cluster): it is retried. Each
module keeps its own classes next to the code that raises them; this module only
holds the two roots, so it imports nothing and anything may import it (except
`imagepolicy`, which stays pure: the cd layer translates its errors).

    HeadwaterError
    ├── UserError                        terminal until the input changes
    │   ├── YamlLimitError               (also yaml.MarkedYAMLError)
    │   ├── SizeError                    (also ValueError, as those below marked *)
    │   ├── cd: RenderError, RenderErrors (also RenderFailed), WorkloadError,
    │   │       EditError, VerbError (UnknownWorkload: 404), SourceError,
    │   │       PolicyFileError, UnknownSource (404), UnknownRelease (404),
    │   │       UnknownAction, ReadOnlySource (409)
    │   ├── ci: PipelineInvalid*, CompileError*, YamlSyntaxError*, DurationError*,
    │   │       VarsError* (UndefinedVarsError, OldStyleTooLarge), TriggerError
    │   ├── ci.service: Invalid (400), NotFound (404), Conflict (409)
    │   ├── kube: UnknownKind
    │   ├── registry: InvalidReference*, InvalidCredentials*
    │   ├── web: PayloadError* (a webhook body), SecretsError
    │   └── cli: TargetError, TagsFileError*
    ├── RenderFailed                     a render kubectl or a file read broke: retried
    ├── GitError (GitTimeout)
    ├── RegistryError (AuthError, NotOnRegistry, RateLimited, BlobTooLarge,
    │                  NoSuitableManifest)
    ├── kube: ApiError
    ├── store: StoreError, TokenConflict (LastToken), EncryptionKeyError*, DecryptError
    ├── ci.build: StepError, Errored, Refused (TooLarge)
    ├── ci.resources: ResourceError (ImageTooLarge), LimitExceeded, NetworkError
    ├── devstack: StackError (MissingPackage, BuildFailed, ComponentFailed, NotRoot,
    │             AlreadyUp)
    ├── story: HopFailed                 a hop of `headwater demo` did not happen
    └── web: ServerError, Forbidden (403), _TooLarge (413); cli: RequestFailed

Outside the tree: `imagepolicy`'s errors (pure logic, it imports nothing of ours; the
cd layer turns them into VerbError or a skipped workload) and `kube.apply.ApplyFailed`
(its stages become classes of their own; one that is a user error, e.g. an unknown
kind, may derive from UserError and the controller stalls on it without more code).

Classes that were `ValueError`s stay `ValueError`s too, so existing `except
ValueError` keep working. No two classes share a name (tests/test_errors.py).
"""

from __future__ import annotations

__all__ = ["HeadwaterError", "UserError"]


class HeadwaterError(Exception):
    """Anything headwater raises on purpose; the message says what went wrong."""


class UserError(HeadwaterError):
    """A mistake in a person's input: the message names the file, line or field and
    what to do. Retrying the same input fails the same way."""

    def details(self) -> dict[str, object]:
        """Fields an API answer adds next to `detail` (e.g. every error with its line)."""
        return {}

"""Why a sync ended as it did: one constant per failing step, as Flux's controllers do."""

SUCCEEDED = "ReconciliationSucceeded"
ARTIFACT_FAILED = "ArtifactFailed"        # git clone/fetch
BUILD_FAILED = "BuildFailed"              # rendering manifests (YAML, kustomize)
VALIDATION_FAILED = "ValidationFailed"    # unknown kinds, duplicates, server-side dry run
APPLY_FAILED = "ApplyFailed"
PRUNE_FAILED = "PruneFailed"
HEALTH_CHECK_FAILED = "HealthCheckFailed"
STATUS_FAILED = "StatusFailed"            # moving the sync tag, writing the inventory

# A user's mistake waits for the next commit: retrying it changes nothing.
TERMINAL = frozenset({BUILD_FAILED, VALIDATION_FAILED})

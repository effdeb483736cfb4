"""Why a sync ended as it did: one constant per failing step, as Flux's controllers do."""

SUCCEEDED = "ReconciliationSucceeded"
ARTIFACT_FAILED = "ArtifactFailed"        # git clone/fetch
BUILD_FAILED = "BuildFailed"              # rendering manifests (YAML, kustomize)
VALIDATION_FAILED = "ValidationFailed"    # unknown kinds, duplicates, server-side dry run
APPLY_FAILED = "ApplyFailed"
PRUNE_FAILED = "PruneFailed"
HEALTH_CHECK_FAILED = "HealthCheckFailed"
STATUS_FAILED = "StatusFailed"            # moving the sync tag, writing the inventory

# A source's state in the controller's status: how its last sync ended, or Stalled: it
# failed with a UserError (headwater/errors.py) and waits for the next commit (Flux's).
READY, FAILED, STALLED = "Ready", "Failed", "Stalled"

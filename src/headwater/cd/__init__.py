"""The GitOps controller: render, sync, image automation."""

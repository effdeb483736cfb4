"""OCI distribution client: auth, tags, manifests, blobs, push."""

"""Who may call the API: SigV4 verification, access keys, IAM-style policies."""

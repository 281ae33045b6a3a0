"""Backups of one node: a consistent copy of a running server's state (the server makes it,
`POST /faas/v1/backup`), and its restore onto a fresh data directory (`faas restore`, offline).

- `manifest`: what an archive says about itself, checked at restore (pure);
- `archive`: the tar layout, written as a stream and read back verified;
- `snapshot`: the running server's side (drain, database copy, staging);
- `restore`: unpacking an archive into a data directory.
"""

"""The gateway's own identity: its signing keys over time and the signed capability document partners read."""

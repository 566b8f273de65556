"""Peer servers the benchmark compares livecon against; each is a plain, idiomatic use."""

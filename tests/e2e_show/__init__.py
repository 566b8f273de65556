"""End-to-end tests of the run-of-show driver: real ``livecon serve`` processes, real sockets."""

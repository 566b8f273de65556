"""End-to-end tests of the flash-sale buy path: real nodes, real Redis, real sockets."""

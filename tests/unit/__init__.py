"""Tests of one module or package at a time (real sockets and the simulator where a module talks HTTP)."""

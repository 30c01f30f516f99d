"""The shared internal package every analytics service is built on.

It owns what the services have in common: configuration, the database engine and the
platform tables (accounts, API keys), authentication, rate limiting, request ids and
logging, the mapping from domain errors to gRPC statuses and the families' HTTP
envelopes, pagination and time windows, and the gRPC server bootstrap.
"""

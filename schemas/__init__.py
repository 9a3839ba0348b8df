"""The event contract: the `.avsc` files, their released versions, the Avro codec and
the compatibility rules.

Every message on every leakguard topic is an Avro event defined here. This package knows
nothing about Faust, Kafka or torch, so any producer or consumer can depend on it.
"""

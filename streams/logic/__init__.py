"""Pure functions the agents loop over: no Kafka, no Faust, testable one value at a time."""

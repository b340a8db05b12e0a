package gateway

// TrustNames exposes the decision table's header names to the external
// tests that send each of them through every door.
var TrustNames = trustNames

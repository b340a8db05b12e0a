package federation

// SelectRoles is selectRoles, for the external tests.
var SelectRoles = selectRoles

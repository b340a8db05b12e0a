package browser

// For the external tests and fuzz targets.
var (
	IsAWSSignInURL = isAWSSignInURL
	ParseSAMLPost  = parseSAMLPost
)

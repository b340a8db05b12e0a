package dbauth

// RDSCABundleURL is where AWS publishes the certificate bundle of every
// RDS certificate authority (global-bundle.pem): the file to give
// sslrootcert (PostgreSQL) or a registered tls.Config's RootCAs (MySQL).
const RDSCABundleURL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"

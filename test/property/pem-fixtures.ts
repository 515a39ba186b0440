/**
 * Fixed, throwaway PEM material for unit property tests that only need options to
 * parse (nothing is ever connected with it). Self-signed EC P-256, test-only; the
 * private key protects nothing.
 */

/** A self-signed CA certificate. */
export const TEST_CA_PEM = Buffer.from(`-----BEGIN CERTIFICATE-----
MIIBjTCCATOgAwIBAgIUW8AYrTDIFw1hetH0CGA16se/h7cwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQcHJvcGVydHktdGVzdCBDQTAgFw0yNjExMjIwMDE0NTRaGA8y
MTI2MTAyOTAwMTQ1NFowGzEZMBcGA1UEAwwQcHJvcGVydHktdGVzdCBDQTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABE09QmShnPIIsdEtMYfKjEgqefrjuICEout4
H06sGTHRDQKZu8Xeo9nn/hEpWXtfWWi80tFEksVG2cPpDG9P1NejUzBRMB0GA1Ud
DgQWBBRlQ/grX//OJoicbkNhktGd+tvGPjAfBgNVHSMEGDAWgBRlQ/grX//OJoic
bkNhktGd+tvGPjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIFTQ
qNx/aZKV2MMAx+BxaEuoQOZX3VnmS9Qu2oso7oRcAiEAhbkWK87unvGVa4Oeu8eh
wqmPPvssvZwl3FJAlrOw9js=
-----END CERTIFICATE-----
`);

/** A client private key (PKCS#8) matching {@link TEST_CLIENT_CERT_PEM}. */
export const TEST_CLIENT_KEY_PEM = Buffer.from(`-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYFRHpWMKgCh1h/0F
IlDcwlKomWb6omnGUy+JG3f/CpahRANCAASaF1PhCx+iH/Vv2RFwRggz+WU6WyOn
HQzzmOEkhzYFPhGti3Ni/MHo73O5h8JgAL7V67Qri1HYwsvu/Ql84CJm
-----END PRIVATE KEY-----
`);

/** A self-signed client certificate for {@link TEST_CLIENT_KEY_PEM}. */
export const TEST_CLIENT_CERT_PEM = Buffer.from(`-----BEGIN CERTIFICATE-----
MIIBljCCATugAwIBAgIUURSwGVg4KLlxEvbYmnnVn/55b3owCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUcHJvcGVydHktdGVzdCBjbGllbnQwIBcNMjYxMTIyMDAxNDU0
WhgPMjEyNjEwMjkwMDE0NTRaMB8xHTAbBgNVBAMMFHByb3BlcnR5LXRlc3QgY2xp
ZW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmhdT4Qsfoh/1b9kRcEYIM/ll
Olsjpx0M85jhJIc2BT4RrYtzYvzB6O9zuYfCYAC+1eu0K4tR2MLL7v0JfOAiZqNT
MFEwHQYDVR0OBBYEFIOcHP9WyXoJLioP4bOuImSsFUAJMB8GA1UdIwQYMBaAFIOc
HP9WyXoJLioP4bOuImSsFUAJMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SQAwRgIhALDYYe3aidehliZsJr4tpr7r5pkHQ3fu5L26StxUue41AiEAgVrFbtrF
VBCM+WPUuNLAMpbG1cC4pQMVcxi8mVcbiXw=
-----END CERTIFICATE-----
`);

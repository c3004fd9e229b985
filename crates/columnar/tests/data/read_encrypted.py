"""Reads a medspace international-profile Parquet object with pyarrow, given its key.

Usage: read_encrypted.py FILE KEY_HEX KEY_ID

pyarrow reads Parquet modular encryption through its key-management layer: the footer key
metadata is "key material" JSON (PKMT1) whose wrappedDEK / masterKeyID carry the medspace key id;
this script's KMS client resolves that id to the key given on the command line (the key is never in
the file). Prints the table as JSON lines: first a summary, then the rows.
"""

import json
import sys

import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

path, key_hex, key_id = sys.argv[1:4]


class OneKeyKms(pe.KmsClient):
    """A KMS that knows one key, by id."""

    def __init__(self, _config):
        pe.KmsClient.__init__(self)

    def wrap_key(self, key_bytes, master_key_identifier):
        raise NotImplementedError("read-only")

    def unwrap_key(self, wrapped_key, master_key_identifier):
        if wrapped_key != key_id or master_key_identifier != key_id:
            raise ValueError("unknown key id")
        return bytes.fromhex(key_hex)


factory = pe.CryptoFactory(lambda config: OneKeyKms(config))
decryption = factory.file_decryption_properties(
    pe.KmsConnectionConfig(), pe.DecryptionConfiguration()
)
table = pq.read_table(path, decryption_properties=decryption)
print(
    json.dumps(
        {
            "rows": table.num_rows,
            "columns": table.column_names,
            "types": [str(t) for t in table.schema.types],
        },
        ensure_ascii=False,
    )
)
for row in table.to_pylist():
    print(json.dumps([row[c] for c in table.column_names], ensure_ascii=False))

"""OPA bundle signatures by an independent implementation (PyJWT and
cryptography), for agent/tests/policy_bundles.rs.

  opa_sign.py keys DIR                       RSA and EC key pairs as PEM files
  opa_sign.py sign IN OUT KEY ALG KID        signs the tarball IN's files, writes OUT
  opa_sign.py verify IN PUBKEY               checks IN's .signatures.json; exit 1 if bad

Hashes as OPA's bundle format specifies them: SHA-256 of a file's bytes, or
for data.json, data.yaml and .manifest, of its JSON with keys sorted and no
whitespace.
"""

import hashlib
import io
import json
import sys
import tarfile

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SIGNATURES = ".signatures.json"
STRUCTURED = {"data.json", ".manifest"}


def members(path):
    """The tarball's regular files: {name: bytes}, names without a leading / or ./"""
    files = {}
    with tarfile.open(path, "r:gz") as tar:
        for m in tar.getmembers():
            if m.isfile():
                name = m.name.lstrip("/")
                while name.startswith("./"):
                    name = name[2:]
                files[name] = tar.extractfile(m).read()
    return files


def file_hash(name, data):
    if name.rsplit("/", 1)[-1] in STRUCTURED:
        value = json.loads(data)
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()


def keys(out):
    pairs = {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
    }
    for name, key in pairs.items():
        with open(f"{out}/{name}.pem", "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        with open(f"{out}/{name}.pub.pem", "wb") as f:
            f.write(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM,
                    serialization.PublicFormat.SubjectPublicKeyInfo,
                )
            )


def sign(src, dst, key_path, alg, kid):
    files = members(src)
    files.pop(SIGNATURES, None)
    payload = {
        "files": [
            {"name": name, "hash": file_hash(name, data), "algorithm": "SHA-256"}
            for name, data in sorted(files.items())
        ]
    }
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    token = jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})
    files[SIGNATURES] = json.dumps({"signatures": [token]}).encode()
    with tarfile.open(dst, "w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo("/" + name)  # as `opa build` names them
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def verify(src, pub_path):
    files = members(src)
    token = json.loads(files.pop(SIGNATURES))["signatures"][0]
    with open(pub_path, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    payload = jwt.decode(token, key, algorithms=["RS256", "ES256"])
    listed = {f["name"]: f["hash"] for f in payload["files"]}
    if set(listed) != set(files):
        sys.exit(f"files differ: signed {sorted(listed)}, present {sorted(files)}")
    for name, data in files.items():
        if listed[name] != file_hash(name, data):
            sys.exit(f"{name}: hash mismatch")
    print(f"verified {len(files)} files, kid {jwt.get_unverified_header(token).get('kid')}")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"keys": keys, "sign": sign, "verify": verify}[command](*args)

"""The OpenAPI 3.0 document of a node's REST API (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]


def _err(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


HEX = {"type": "string", "pattern": "^[0-9a-fA-F]*$"}
_hex_param = lambda name, desc: {"name": name, "in": "path", "required": True, "description": desc,  # noqa: E731
                                 "schema": HEX}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "edgeledger node API", "version": "1", "description":
             "Query the chain, submit signed transactions, move blobs. Errors are JSON {error: reason}."},
    "paths": {
        "/v1/health": {"get": {"summary": "liveness and chain height", "responses": {
            "200": _ok("serving"), "503": _err("still starting")}}},
        "/v1/head": {"get": {"summary": "chain head, PBFT view and leader", "responses": {
            "200": _ok("head"), "503": _err("still starting")}}},
        "/v1/blocks/{height}": {"get": {"summary": "block by height", "parameters": [
            {"name": "height", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}],
            "responses": {"200": _ok("block"), "404": _err("no such block"), "503": _err("still starting")}}},
        "/v1/blocks/hash/{digest}": {"get": {"summary": "block by hash", "parameters": [
            _hex_param("digest", "block hash (hex)")], "responses": {
            "200": _ok("block"), "400": _err("not hex"), "404": _err("no such block"), "503": _err("starting")}}},
        "/v1/tx/{tx_id}": {"get": {"summary": "a committed transaction with its Merkle inclusion proof",
                                   "parameters": [_hex_param("tx_id", "transaction id (hex)")], "responses": {
            "200": _ok("transaction, proof and receipt"), "400": _err("not hex"), "404": _err("not committed"),
            "503": _err("still starting")}}},
        "/v1/tx": {"post": {"summary": "submit a signed transaction (canonical msgpack bytes)",
                            "requestBody": {"required": True, "content": {"application/msgpack": {
                                "schema": {"type": "string", "format": "binary"}}}},
                            "responses": {"202": _ok("accepted for ordering"), "400": _err("undecodable"),
                                          "403": _err("bad signature or unknown sender"),
                                          "409": _err("stale nonce or unknown kind"), "413": _err("too large"),
                                          "503": _err("still starting")}}},
        "/v1/txs": {"post": {"summary": "submit a batch of signed transactions (msgpack list of canonical "
                                        "transaction bytes, at most 1000); each is verified and answered on its own",
                             "requestBody": {"required": True, "content": {"application/msgpack": {
                                 "schema": {"type": "string", "format": "binary"}}}},
                             "responses": {"200": _ok("per transaction: tx_id, status (202/400/403/409/413), error"),
                                           "400": _err("not a msgpack list"), "413": _err("too many or too large"),
                                           "503": _err("still starting")}}},
        "/v1/blocks/{height}/receipts": {"get": {"summary": "a block's transaction ids and validity, in block order",
                                                 "parameters": [{"name": "height", "in": "path", "required": True,
                                                                 "schema": {"type": "integer", "minimum": 0}}],
                                                 "responses": {"200": _ok("tx_ids, ok, codes"),
                                                               "404": _err("no such block"),
                                                               "503": _err("still starting")}}},
        "/v1/endorse": {"post": {"summary": "as an endorsing peer, simulate a proposal (EndorseRequest) on the "
                                           "committed state and sign its read/write set; the client collects enough "
                                           "ProposalResponses for the contract's endorsement policy",
                                 "requestBody": {"required": True, "content": {"application/msgpack": {
                                     "schema": {"type": "string", "format": "binary"}}}},
                                 "responses": {"200": {"description": "the signed ProposalResponse (msgpack)",
                                                       "content": {"application/msgpack": {}}},
                                               "400": _err("undecodable"),
                                               "409": _err("the simulation failed: nothing signed"),
                                               "403": _err("sender is not a member"), "413": _err("too large"),
                                               "503": _err("still starting")}}},
        "/v1/state/{key}": {"get": {"summary": "a key of the chain state", "parameters": [
            {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _ok("value"), "404": _err("no such key"), "503": _err("still starting")}}},
        "/v1/blobs/{digest}": {
            "get": {"summary": "download a blob", "parameters": [_hex_param("digest", "sha256 (hex)")],
                    "responses": {"200": {"description": "blob bytes", "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                        "404": _err("no such blob"), "503": _err("still starting")}},
            "put": {"summary": "upload a blob; its sha256 must equal the digest",
                    "parameters": [_hex_param("digest", "sha256 (hex)")],
                    "requestBody": {"required": True, "content": {"application/octet-stream": {
                        "schema": {"type": "string", "format": "binary"}}}},
                    "responses": {"201": _ok("stored"), "400": _err("digest not hex"), "413": _err("too large"),
                                  "422": _err("content does not match the digest"), "503": _err("starting")}}},
        "/v1/peers": {"get": {"summary": "known peers", "responses": {"200": _ok("peers"), "503": _err("starting")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text format",
                                                                                  "content": {"text/plain": {}}}}}},
        "/v1/admin/shutdown": {"post": {"summary": "stop the node (needs the admin token)", "responses": {
            "202": _ok("stopping"), "401": _err("no or wrong token")}}},
        "/v1/admin/links": {"post": {"summary": "cut or heal links to peers (fault injection; admin token)",
                                     "requestBody": {"content": {"application/json": {"schema": {
                                         "type": "object", "properties": {
                                             "block": {"type": "array", "items": {"type": "string"}},
                                             "unblock": {"type": "array", "items": {"type": "string"}}}}}}},
                                     "responses": {"200": _ok("links now blocked"), "400": _err("bad body"),
                                                   "401": _err("no or wrong token"), "503": _err("starting")}}},
    },
    "components": {"schemas": {"Error": {"type": "object", "required": ["error"],
                                         "properties": {"error": {"type": "string"}}}}},
}

/* Exercises ozkcp.h directly: good calls, null pointers, zero lengths, garbage buffers, wrong
 * handle types, double destroy and use after destroy. Every bad input must come back as an
 * error status, never a crash. Exit status 0 = all checks passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ozkcp.h"

static int failures = 0;

#define CHECK(cond, what)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, what);  \
            failures++;                                                     \
        }                                                                   \
    } while (0)

/* Status of a status result, destroyed. */
static int st(OzkcpStatusResult *r) {
    int code = r->status_code;
    CHECK((code == OZKCP_OK) == (r->error_msg == NULL), "error_msg set exactly on error");
    ozkcp_destroy_status_result(r);
    return code;
}

/* Status of a bytes result, destroyed. */
static int bst(OzkcpBytesResult *r) {
    int code = r->status_code;
    CHECK((code == OZKCP_OK) == (r->error_msg == NULL), "error_msg set exactly on error");
    ozkcp_destroy_bytes_result(r);
    return code;
}

static int pst(OzkcpPairResult *r) {
    int code = r->status_code;
    ozkcp_destroy_pair_result(r);
    return code;
}

int main(void) {
    uint8_t key[32], lock[32], garbage[300];
    for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1);
    for (int i = 0; i < 300; i++) garbage[i] = (uint8_t)(i * 131 + 17);

    CHECK(ozkcp_abi_version() == OZKCP_ABI_VERSION, "abi version matches the header");

    /* Keys and locks. */
    OzkcpBytesResult *l = ozkcp_key_lock(key, 32);
    CHECK(l->status_code == OZKCP_OK && l->value_len == 32, "key lock");
    memcpy(lock, l->value_ptr, 32);
    ozkcp_destroy_bytes_result(l);
    CHECK(st(ozkcp_key_opens(key, 32, lock, 32)) == OZKCP_OK, "key opens its lock");
    CHECK(st(ozkcp_key_opens(lock, 32, lock, 32)) == OZKCP_ERR_REJECTED, "other key refused");
    CHECK(bst(ozkcp_key_lock(NULL, 32)) == OZKCP_ERR_INVALID_INPUT, "null key");
    CHECK(bst(ozkcp_key_lock(key, 0)) == OZKCP_ERR_INVALID_INPUT, "zero-length key");
    CHECK(bst(ozkcp_key_lock(key, 31)) == OZKCP_ERR_INVALID_INPUT, "short key");
    OzkcpPairResult *kc = ozkcp_key_chain(key, 32, 4);
    CHECK(kc->status_code == OZKCP_OK && kc->first_len == 128 && kc->second_len == 128, "key chain");
    CHECK(memcmp(kc->first_ptr + 96, key, 32) == 0, "chain ends at the last key");
    CHECK(memcmp(kc->second_ptr + 96, lock, 32) == 0, "last lock");
    ozkcp_destroy_pair_result(kc);
    CHECK(pst(ozkcp_key_chain(NULL, 0, 0)) == OZKCP_ERR_INVALID_INPUT, "empty chain");
    CHECK(pst(ozkcp_key_chain(NULL, 0, 3)) == OZKCP_OK, "random chain");

    /* Encrypt/decrypt round trip, empty chunk, in place. */
    uint8_t plain[100];
    for (int i = 0; i < 100; i++) plain[i] = (uint8_t)i;
    OzkcpBytesResult *c = ozkcp_encrypt_chunk(key, 32, 5, plain, sizeof plain);
    CHECK(c->status_code == OZKCP_OK && c->value_len == 100, "encrypt");
    OzkcpBytesResult *d = ozkcp_decrypt_chunk(key, 32, 5, c->value_ptr, c->value_len);
    CHECK(d->status_code == OZKCP_OK && memcmp(d->value_ptr, plain, 100) == 0, "decrypt");
    uint8_t buf[100];
    memcpy(buf, c->value_ptr, 100);
    CHECK(st(ozkcp_chunk_keystream_in_place(key, 32, 5, buf, 100)) == OZKCP_OK, "in place");
    CHECK(memcmp(buf, plain, 100) == 0, "in-place decrypt");
    ozkcp_destroy_bytes_result(c);
    ozkcp_destroy_bytes_result(d);
    OzkcpBytesResult *e = ozkcp_encrypt_chunk(key, 32, 0, NULL, 0);
    CHECK(e->status_code == OZKCP_OK && e->value_len == 0 && e->value_ptr == NULL, "empty chunk");
    ozkcp_destroy_bytes_result(e);
    CHECK(bst(ozkcp_encrypt_chunk(key, 32, 0, NULL, 10)) == OZKCP_ERR_INVALID_INPUT, "null plaintext");
    CHECK(st(ozkcp_chunk_keystream_in_place(key, 32, 0, NULL, 10)) == OZKCP_ERR_INVALID_INPUT, "null buffer");

    /* Chunking. */
    CHECK(bst(ozkcp_chain_block(plain, 100, 64)) == OZKCP_OK, "chain block");
    CHECK(bst(ozkcp_chain_block(plain, 100, 63)) == OZKCP_ERR_INVALID_INPUT, "bad chunk size");
    CHECK(bst(ozkcp_chain_block(NULL, 0, 64)) == OZKCP_OK, "empty block");

    /* Merkle. */
    uint8_t leaves[3 * 32];
    memset(leaves, 9, sizeof leaves);
    CHECK(bst(ozkcp_merkle_root(leaves, sizeof leaves)) == OZKCP_OK, "merkle root");
    CHECK(bst(ozkcp_merkle_root(leaves, 33)) == OZKCP_ERR_INVALID_INPUT, "ragged leaves");
    CHECK(bst(ozkcp_merkle_root(NULL, 0)) == OZKCP_ERR_INVALID_INPUT, "no leaves");
    CHECK(bst(ozkcp_merkle_proof(leaves, sizeof leaves, 3)) == OZKCP_ERR_INVALID_INPUT, "position out of range");
    CHECK(st(ozkcp_merkle_verify(garbage, 40, leaves, 32, leaves, 32)) == OZKCP_ERR_INVALID_INPUT, "garbage proof");

    /* Garbage and truncated CBOR everywhere a protocol object is read. */
    for (size_t n = 0; n < sizeof garbage; n += 37) {
        CHECK(bst(ozkcp_statement_leaf(garbage, n)) == OZKCP_ERR_INVALID_INPUT, "garbage statement");
        CHECK(bst(ozkcp_voucher_signing_bytes(garbage, n)) == OZKCP_ERR_INVALID_INPUT, "garbage voucher");
        CHECK(bst(ozkcp_deal_layout(garbage, n)) == OZKCP_ERR_INVALID_INPUT, "garbage terms");
        CHECK(bst(ozkcp_evidence_verify(garbage, n, garbage, n, NULL)) == OZKCP_ERR_INVALID_INPUT, "garbage evidence");
        CHECK(pst(ozkcp_client_fsm_step(garbage, n, (const uint8_t *)"{}", 2)) == OZKCP_ERR_INVALID_INPUT, "garbage state");
        CHECK(st(ozkcp_deal_terms_verify(garbage, n)) == OZKCP_ERR_INVALID_INPUT, "garbage signed terms");
    }

    /* Signers, vouchers and handles. */
    OzkcpHandleResult *sr = ozkcp_signer_new(key, 32);
    CHECK(sr->status_code == OZKCP_OK && sr->handle != NULL, "signer");
    OzkcpHandle *signer = sr->handle;
    ozkcp_destroy_handle_result(sr);
    OzkcpHandleResult *bad = ozkcp_signer_new(key, 16);
    CHECK(bad->status_code == OZKCP_ERR_INVALID_INPUT && bad->handle == NULL, "short secret");
    ozkcp_destroy_handle_result(bad);

    OzkcpBytesResult *addr = ozkcp_signer_address(signer);
    CHECK(addr->status_code == OZKCP_OK && addr->value_len == 21 && addr->value_ptr[0] == 1, "f1 address");
    uint8_t judge[2] = {0, 100}; /* f0100 */
    OzkcpBytesResult *v = ozkcp_voucher_create(judge, 2, 7, 1, (const uint8_t *)"1000", 4, lock, 32);
    CHECK(v->status_code == OZKCP_OK, "voucher create");
    OzkcpBytesResult *sv = ozkcp_voucher_sign(signer, v->value_ptr, v->value_len);
    CHECK(sv->status_code == OZKCP_OK, "voucher sign");
    CHECK(st(ozkcp_voucher_verify(sv->value_ptr, sv->value_len, addr->value_ptr, addr->value_len)) == OZKCP_OK, "voucher verifies");
    CHECK(st(ozkcp_voucher_verify(v->value_ptr, v->value_len, addr->value_ptr, addr->value_len)) == OZKCP_ERR_REJECTED, "unsigned voucher refused");
    CHECK(st(ozkcp_voucher_check(sv->value_ptr, sv->value_len, judge, 2, 7, addr->value_ptr, addr->value_len,
                                 false, 0, (const uint8_t *)"1000", 4, lock, 32, NULL, 0)) == OZKCP_OK, "voucher check");
    CHECK(st(ozkcp_voucher_check(sv->value_ptr, sv->value_len, judge, 2, 7, addr->value_ptr, addr->value_len,
                                 true, 1, (const uint8_t *)"1000", 4, lock, 32, NULL, 0)) == OZKCP_ERR_REJECTED, "replayed nonce");
    CHECK(st(ozkcp_voucher_check(sv->value_ptr, sv->value_len, judge, 2, 7, addr->value_ptr, addr->value_len,
                                 false, 0, (const uint8_t *)"1001", 4, lock, 32, NULL, 0)) == OZKCP_ERR_REJECTED, "short voucher");
    CHECK(st(ozkcp_voucher_check(sv->value_ptr, sv->value_len, judge, 2, 7, addr->value_ptr, addr->value_len,
                                 false, 0, (const uint8_t *)"-5", 2, lock, 32, NULL, 0)) == OZKCP_ERR_INVALID_INPUT, "negative amount");
    CHECK(bst(ozkcp_voucher_create(judge, 2, 7, 1, (const uint8_t *)"ten", 3, lock, 32)) == OZKCP_ERR_INVALID_INPUT, "bad amount");
    CHECK(bst(ozkcp_voucher_create(garbage, 5, 7, 1, (const uint8_t *)"1", 1, lock, 32)) == OZKCP_ERR_INVALID_INPUT, "bad address");
    ozkcp_destroy_bytes_result(v);
    ozkcp_destroy_bytes_result(sv);
    ozkcp_destroy_bytes_result(addr);

    /* Wrong handle types, null handles, double destroy, use after destroy. */
    CHECK(bst(ozkcp_signer_address(NULL)) == OZKCP_ERR_BAD_HANDLE, "null handle");
    CHECK(bst(ozkcp_signer_address((const OzkcpHandle *)garbage)) == OZKCP_ERR_BAD_HANDLE, "foreign pointer");
    CHECK(bst(ozkcp_zk_circuit_id(signer)) == OZKCP_ERR_BAD_HANDLE, "signer is not zk params");
    CHECK(bst(ozkcp_provider_lock(signer, 0)) == OZKCP_ERR_BAD_HANDLE, "signer is not a provider deal");
    CHECK(st(ozkcp_client_accept_interval(signer, NULL, 0)) != OZKCP_OK, "signer is not a client deal");
    CHECK(st(ozkcp_handle_destroy(signer)) == OZKCP_OK, "destroy");
    CHECK(st(ozkcp_handle_destroy(signer)) == OZKCP_ERR_BAD_HANDLE, "double destroy");
    CHECK(bst(ozkcp_signer_sign(signer, plain, 10)) == OZKCP_ERR_BAD_HANDLE, "use after destroy");
    CHECK(st(ozkcp_handle_destroy(NULL)) == OZKCP_ERR_BAD_HANDLE, "destroy null");

    /* zk: garbage keys and proofs. */
    OzkcpHandleResult *pr = ozkcp_zk_params_load(64, false, garbage, sizeof garbage, NULL, 0, NULL, 0);
    CHECK(pr->status_code == OZKCP_ERR_INVALID_INPUT && pr->handle == NULL, "garbage verifying key");
    ozkcp_destroy_handle_result(pr);
    pr = ozkcp_zk_params_load(65, false, NULL, 0, NULL, 0, NULL, 0);
    CHECK(pr->status_code == OZKCP_ERR_INVALID_INPUT, "bad chunk size");
    ozkcp_destroy_handle_result(pr);

    /* FSM: a valid start, a refused transition, garbage events. */
    OzkcpPairResult *f = ozkcp_client_fsm_new(1, 0);
    CHECK(f->status_code == OZKCP_OK && strstr((const char *)f->second_ptr, "SendProposal") != NULL, "client fsm new");
    const char *ev = "{\"event\":\"ProposalSent\"}";
    OzkcpPairResult *f2 = ozkcp_client_fsm_step(f->first_ptr, f->first_len, (const uint8_t *)ev, strlen(ev));
    CHECK(f2->status_code == OZKCP_OK, "client fsm step");
    const char *ev2 = "{\"event\":\"KeyAccepted\"}";
    CHECK(pst(ozkcp_client_fsm_step(f2->first_ptr, f2->first_len, (const uint8_t *)ev2, strlen(ev2))) == OZKCP_ERR_REJECTED, "invalid transition");
    CHECK(pst(ozkcp_client_fsm_step(f2->first_ptr, f2->first_len, garbage, 20)) == OZKCP_ERR_INVALID_INPUT, "garbage event");
    CHECK(pst(ozkcp_client_fsm_step(f2->first_ptr, f2->first_len, NULL, 0)) == OZKCP_ERR_INVALID_INPUT, "no event");
    CHECK(pst(ozkcp_client_fsm_step(f2->first_ptr, f2->first_len - 1, (const uint8_t *)ev, strlen(ev))) == OZKCP_ERR_INVALID_INPUT, "truncated state");
    CHECK(pst(ozkcp_client_fsm_new(1, 9)) == OZKCP_ERR_INVALID_INPUT, "bad mode");
    ozkcp_destroy_pair_result(f);
    ozkcp_destroy_pair_result(f2);

    /* Destroying null results is a no-op. */
    ozkcp_destroy_status_result(NULL);
    ozkcp_destroy_bytes_result(NULL);
    ozkcp_destroy_pair_result(NULL);
    ozkcp_destroy_handle_result(NULL);

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("c abi test: all checks passed\n");
    return 0;
}

// C interface of libmoekit_spm.so, the one library that links SentencePiece.
// moekit dlopen()s it (src/data/tokenizer.cpp) so SentencePiece's protobuf
// never meets LibTorch's. Every function that can fail returns 0 on success,
// or non-zero with *error set to a message the caller frees with
// moekit_spm_free. Text is UTF-8 with an explicit length.
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOEKIT_SPM_ABI_VERSION 1

typedef struct moekit_spm_processor moekit_spm_processor;

int moekit_spm_abi_version(void);
void moekit_spm_free(void* p);

/// Trains with spm_train's flags as key/value pairs.
int moekit_spm_train(size_t n, const char* const* keys, const char* const* values, char** error);

int moekit_spm_load(const char* model_path, moekit_spm_processor** out, char** error);
void moekit_spm_unload(moekit_spm_processor* p);

/// *ids: malloc'd array of *n ids.
int moekit_spm_encode_ids(const moekit_spm_processor* p, const char* text, size_t len, int** ids,
                          size_t* n, char** error);
/// *pieces: malloc'd buffer of *n NUL-terminated pieces, back to back.
int moekit_spm_encode_pieces(const moekit_spm_processor* p, const char* text, size_t len,
                             char** pieces, size_t* n, char** error);
/// *text: malloc'd, NUL-terminated, *len bytes before the NUL.
int moekit_spm_decode_ids(const moekit_spm_processor* p, const int* ids, size_t n, char** text,
                          size_t* len, char** error);

int moekit_spm_vocab_size(const moekit_spm_processor* p);
/// -1 when the piece is absent.
int moekit_spm_piece_to_id(const moekit_spm_processor* p, const char* piece, size_t len);
/// NULL when id is out of range; valid while p is loaded.
const char* moekit_spm_id_to_piece(const moekit_spm_processor* p, int id);
/// which: 0 unk, 1 bos, 2 eos, 3 pad.
int moekit_spm_special_id(const moekit_spm_processor* p, int which);

#ifdef __cplusplus
}
#endif

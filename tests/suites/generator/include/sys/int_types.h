/*
 * A minimal <sys/int_types.h> for compiling the generated headers without any C library
 * (-ffreestanding -nostdinc), the way kernel code gets its fixed-width integer types. The
 * types come from the compiler's predefined macros, so they are the same types the host C
 * library declares (redeclaring an identical typedef is allowed in C++).
 */
#ifndef PVSCSI_TESTS_GENERATED_SYS_INT_TYPES_H
#define PVSCSI_TESTS_GENERATED_SYS_INT_TYPES_H

typedef __INT8_TYPE__ int8_t;
typedef __INT16_TYPE__ int16_t;
typedef __INT32_TYPE__ int32_t;
typedef __INT64_TYPE__ int64_t;
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;
typedef __INTPTR_TYPE__ intptr_t;
typedef __UINTPTR_TYPE__ uintptr_t;

#endif /* PVSCSI_TESTS_GENERATED_SYS_INT_TYPES_H */

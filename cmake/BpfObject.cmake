# SPDX-License-Identifier: Apache-2.0
# bpf_skeleton(NAME SOURCE DEPENDS...) compiles bpf/NAME.bpf.c with clang
# -target bpf into an object, then `bpftool gen skeleton` into NAME.skel.h,
# and defines an INTERFACE target NAME_skel whose include dir holds it.
#
# vmlinux.h is generated at build time from the build host's
# /sys/kernel/btf/vmlinux (or NBW_VMLINUX_BTF). CO-RE relocations make the
# object portable to other kernels with BTF: the header only has to describe
# the types, the loader fixes offsets against the running kernel
# (docs/architecture.md, "vmlinux.h").

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(NBW_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "BTF used to generate vmlinux.h")
set(NBW_BPF_GEN ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${NBW_BPF_GEN})

add_custom_command(
  OUTPUT ${NBW_BPF_GEN}/vmlinux.h
  COMMAND ${BPFTOOL} btf dump file ${NBW_VMLINUX_BTF} format c > ${NBW_BPF_GEN}/vmlinux.h
  COMMENT "Generating vmlinux.h from ${NBW_VMLINUX_BTF}"
  VERBATIM)

# x86_64 only, said here once: the sensor names syscalls by their x86_64
# numbers (bpf/sensor.bpf.c includes asm/unistd_64.h) and reads their
# arguments from x86_64 pt_regs (bpf/task.bpf.h: nbw_syscall_args). A port
# needs both per architecture; until then other machines stop at configure.
if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64)$")
  message(FATAL_ERROR "nbwarden: the sensor supports x86_64 only (its syscall numbers and "
                      "pt_regs layout, cmake/BpfObject.cmake); this machine is "
                      "${CMAKE_SYSTEM_PROCESSOR}")
endif()
set(NBW_BPF_ARCH x86)
set(NBW_ASM_INCLUDE /usr/include/x86_64-linux-gnu)

function(bpf_skeleton name)
  cmake_parse_arguments(ARG "" "" "DEPENDS" ${ARGN})
  set(src ${CMAKE_SOURCE_DIR}/bpf/${name}.bpf.c)
  set(obj ${NBW_BPF_GEN}/${name}.bpf.o)
  set(skel ${NBW_BPF_GEN}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_${NBW_BPF_ARCH}
            -I${NBW_BPF_GEN} -I${CMAKE_SOURCE_DIR}/bpf -idirafter ${NBW_ASM_INCLUDE}
            -c ${src} -o ${obj}
    DEPENDS ${src} ${NBW_BPF_GEN}/vmlinux.h ${ARG_DEPENDS}
    COMMENT "BPF ${name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "Skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${NBW_BPF_GEN})
endfunction()

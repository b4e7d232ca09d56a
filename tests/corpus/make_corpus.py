# SPDX-License-Identifier: Apache-2.0
"""The model-scanner corpus, generated with Debian's Python, torch, numpy,
scikit-learn and joblib: clean models as those libraries write them, and
malicious ones, including each known scanner bypass. Every file has an
expected verdict and the globals/finding kinds the report must name.

Run with /usr/bin/python3:  make_corpus.py OUTDIR  (writes OUTDIR/manifest.json)
Nothing here is ever loaded: payloads only `touch` a marker path.
"""
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import zipfile

import numpy as np

MARKER = "/tmp/nbw-corpus-payload-ran"


class OsSystem:
    def __reduce__(self):
        return (os.system, ("touch " + MARKER,))


class SubprocessPopen:
    def __reduce__(self):
        return (subprocess.Popen, (["touch", MARKER],))


class Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch %s')" % MARKER,))


class Exec:
    def __reduce__(self):
        return (exec, ("import os; os.system('touch %s')" % MARKER,))


class Runpy:
    def __reduce__(self):
        import runpy
        return (runpy.run_path, ("/dev/null",))


def op_str(s):  # SHORT_BINUNICODE
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def torch_zip(path, obj):
    import torch
    torch.save(obj, path)


# Zip header kinds: (signature, offset of the name length, offset of the name)
LOCAL = (b"PK\x03\x04", 26, 30)
CENTRAL = (b"PK\x01\x02", 28, 46)


def zip_headers(d, kind, member_suffix):
    """(offset, end of name) of each header of `kind` naming a member that
    ends with member_suffix."""
    sig, len_off, name_off = kind
    at = d.find(sig)
    while at >= 0:
        n = struct.unpack_from("<H", d, at + len_off)[0]
        if bytes(d[at + name_off:at + name_off + n]).endswith(member_suffix):
            yield at, at + name_off + n
        at = d.find(sig, at + 4)


def rewrite_zip(src, dst, change):
    """Rewrites raw bytes of a zip so that `change(data)` can patch headers."""
    with open(src, "rb") as f:
        data = bytearray(f.read())
    change(data)
    with open(dst, "wb") as f:
        f.write(data)


def build(out):
    import torch
    import joblib
    from sklearn.linear_model import LogisticRegression

    os.makedirs(out, exist_ok=True)
    m = []

    def add(name, verdict, globals_=(), kinds=(), complete=None, fmt=None):
        m.append({"file": name, "verdict": verdict, "globals": list(globals_),
                  "kinds": list(kinds), "complete": complete, "format": fmt})

    def p(name):
        return os.path.join(out, name)

    # ---- clean models, as the libraries write them
    net = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    torch.save(net.state_dict(), p("clean_state_dict.pt"))
    add("clean_state_dict.pt", "clean", fmt="pytorch-zip")
    torch.save(net, p("clean_whole_module.pt"))
    add("clean_whole_module.pt", "clean", fmt="pytorch-zip")
    torch.save(net.state_dict(), p("clean_legacy.pt"), _use_new_zipfile_serialization=False)
    add("clean_legacy.pt", "clean", fmt="pickle")
    X = np.random.RandomState(0).rand(40, 3)
    y = (X[:, 0] > 0.5).astype(int)
    clf = LogisticRegression().fit(X, y)
    joblib.dump(clf, p("clean_sklearn.joblib"))
    add("clean_sklearn.joblib", "clean", fmt="pickle")
    joblib.dump({"a": np.arange(1000.0), "b": np.ones((3, 5), dtype=np.int32), "clf": clf},
                p("clean_arrays.joblib"))
    add("clean_arrays.joblib", "clean", fmt="pickle")
    joblib.dump(clf, p("clean_sklearn_gz.joblib"), compress=("gzip", 3))
    add("clean_sklearn_gz.joblib", "clean", fmt="compressed")
    with open(p("clean_sklearn.pkl"), "wb") as f:
        pickle.dump(clf, f, protocol=4)
    add("clean_sklearn.pkl", "clean", fmt="pickle")
    np.save(p("clean_floats.npy"), np.linspace(0, 1, 100))
    add("clean_floats.npy", "clean", fmt="npy")
    np.save(p("clean_objects.npy"), np.array([1, "two", 3.0], dtype=object), allow_pickle=True)
    add("clean_objects.npy", "clean", fmt="npy-object")
    np.savez(p("clean_arrays.npz"), a=np.zeros(10), b=np.arange(5))
    add("clean_arrays.npz", "clean", fmt="npz")
    with open(p("clean_proto0.pkl"), "wb") as f:
        pickle.dump({"lr": 0.1, "layers": [8, 4, 2]}, f, protocol=0)
    add("clean_proto0.pkl", "clean", fmt="pickle")
    keras_cfg = {"module": "keras", "class_name": "Sequential", "config": {"layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"units": 4},
         "registered_name": None}]}}
    with zipfile.ZipFile(p("clean_model.keras"), "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        z.writestr("config.json", json.dumps(keras_cfg))
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    add("clean_model.keras", "clean", fmt="keras")
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                         "__metadata__": {"format": "pt"}}).encode()
    with open(p("clean.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    add("clean.safetensors", "clean", fmt="safetensors")

    # ---- malicious pickles, one per payload style
    for name, obj, g in [("evil_os_system.pkl", OsSystem(), "posix.system"),
                         ("evil_subprocess.pkl", SubprocessPopen(), "subprocess.Popen"),
                         ("evil_eval.pkl", Eval(), "builtins.eval"),
                         ("evil_exec.pkl", Exec(), "builtins.exec"),
                         ("evil_runpy.pkl", Runpy(), "runpy.run_path")]:
        with open(p(name), "wb") as f:
            pickle.dump(obj, f, protocol=4)
        add(name, "malicious", [g], fmt="pickle")
    with open(p("evil_proto0_py2.pkl"), "wb") as f:
        f.write(b"c__builtin__\neval\n(S'1+1'\ntR.")
    add("evil_proto0_py2.pkl", "malicious", ["builtins.eval"], fmt="pickle")
    with open(p("evil_proto2.pkl"), "wb") as f:
        pickle.dump(OsSystem(), f, protocol=2)
    add("evil_proto2.pkl", "malicious", ["posix.system"], fmt="pickle")

    # PyTorch zip with the payload next to real tensors
    torch_zip(p("evil_state_dict.pt"), {"w": torch.ones(3), "x": OsSystem()})
    add("evil_state_dict.pt", "malicious", ["posix.system"], fmt="pytorch-zip")
    # legacy (non-zip) PyTorch: stacked pickles then raw storages
    torch.save({"w": torch.ones(3), "x": OsSystem()}, p("evil_legacy.pt"),
               _use_new_zipfile_serialization=False)
    add("evil_legacy.pt", "malicious", ["posix.system"], fmt="pickle")

    # bypass: renamed extension, the scanner must look at content
    with open(p("evil_state_dict.pt"), "rb") as f:
        data = f.read()
    with open(p("evil_renamed.png"), "wb") as f:
        f.write(data)
    add("evil_renamed.png", "malicious", ["posix.system"], fmt="pytorch-zip")

    # bypass: a pickle under a member name that is not .pkl
    with zipfile.ZipFile(p("evil_hidden_member.pt"), "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        z.writestr("archive/data/0", pickle.dumps(OsSystem(), protocol=2))
    add("evil_hidden_member.pt", "malicious", ["posix.system"], ["hidden_pickle"],
        fmt="pytorch-zip")

    # bypass: local header disagrees with the central directory
    def break_local_name(d):
        for at, name_end in zip_headers(d, LOCAL, b"data.pkl"):
            d[name_end - 1] = ord("X")
    rewrite_zip(p("evil_state_dict.pt"), p("evil_zip_mismatch.pt"), break_local_name)
    add("evil_zip_mismatch.pt", "malicious", ["posix.system"], ["zip_header"],
        fmt="pytorch-zip")

    # bypass: flag bits set in the local header only ("encrypted": streaming
    # zip readers skip the member; PyTorch reads the central directory)
    def set_flags(d):
        for at, _ in zip_headers(d, LOCAL, b"data.pkl"):
            d[at + 6] |= 0x01
    rewrite_zip(p("evil_state_dict.pt"), p("evil_zip_flags.pt"), set_flags)
    add("evil_zip_flags.pt", "malicious", ["posix.system"], ["zip_header"], fmt="pytorch-zip")

    # bypass: a wrong CRC (Python's zipfile raises; PyTorch does not check)
    def break_crc(d):
        for at, _ in zip_headers(d, LOCAL, b"data.pkl"):
            d[at + 14] ^= 0xFF
        for at, _ in zip_headers(d, CENTRAL, b"data.pkl"):
            d[at + 16] ^= 0xFF
    rewrite_zip(p("evil_state_dict.pt"), p("evil_zip_crc.pt"), break_crc)
    add("evil_zip_crc.pt", "malicious", ["posix.system"], fmt="pytorch-zip")

    # bypass: broken stream, payload first (the unpickler runs it, then fails)
    with open(p("evil_broken_after_payload.pkl"), "wb") as f:
        f.write(b"\x80\x02cposix\nsystem\nX\x05\x00\x00\x00touch\x85R\xff\xff garbage")
    add("evil_broken_after_payload.pkl", "malicious", ["posix.system"], ["malformed"],
        complete=False, fmt="pickle")

    # bypass: STACK_GLOBAL whose operands come from the memo
    stream = (b"\x80\x04" + op_str("posix") + b"\x94" + op_str("system") + b"\x94" + b"00"
              + b"h\x00h\x01\x93" + op_str("touch " + MARKER) + b"\x85R.")
    with open(p("evil_stack_global_memo.pkl"), "wb") as f:
        f.write(stream)
    add("evil_stack_global_memo.pkl", "malicious", ["posix.system"], fmt="pickle")

    # bypass: a dangerous global reached through a dotted name
    with open(p("evil_dotted.pkl"), "wb") as f:
        f.write(b"\x80\x04" + op_str("torch") + op_str("serialization.os.system") + b"\x93"
                + op_str("id") + b"\x85R.")
    add("evil_dotted.pkl", "malicious", ["torch.serialization.os.system"], fmt="pickle")

    # bypass: EXT opcodes (copyreg extension registry)
    with open(p("evil_ext.pkl"), "wb") as f:
        f.write(b"\x80\x02\x82\x42" + op_str("id") + b"\x85R.")
    add("evil_ext.pkl", "suspicious", [], ["extension"], fmt="pickle")

    # joblib: payload after inline arrays (the scanner must skip array bytes)
    joblib.dump({"a": np.arange(1000.0), "b": np.ones((7, 3)), "x": OsSystem()},
                p("evil_arrays.joblib"))
    add("evil_arrays.joblib", "malicious", ["posix.system"], fmt="pickle")
    joblib.dump({"a": np.arange(10.0), "x": OsSystem()}, p("evil_zlib.joblib"), compress=3)
    add("evil_zlib.joblib", "malicious", ["posix.system"])

    # numpy: object arrays hold pickles
    np.save(p("evil_object.npy"), np.array([OsSystem()], dtype=object), allow_pickle=True)
    add("evil_object.npy", "malicious", ["posix.system"], fmt="npy-object")
    np.savez(p("evil_object.npz"), a=np.zeros(3), b=np.array([OsSystem()], dtype=object))
    add("evil_object.npz", "malicious", ["posix.system"], fmt="npz")

    # Keras: a Lambda layer carries bytecode
    evil_cfg = {"module": "keras", "class_name": "Sequential", "config": {"layers": [
        {"module": "keras.layers", "class_name": "Lambda", "config": {"function": {
            "class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA"}}}}]}}
    with zipfile.ZipFile(p("evil_lambda.keras"), "w") as z:
        z.writestr("config.json", json.dumps(evil_cfg))
    add("evil_lambda.keras", "malicious", [], ["lambda_layer"], fmt="keras")

    # legacy PyTorch tar layout, payload in the 'pickle' member
    with tarfile.open(p("evil_legacy_tar.pt"), "w") as t:
        for name, payload in [("sys_info", pickle.dumps({"little_endian": True}, protocol=2)),
                              ("pickle", pickle.dumps(OsSystem(), protocol=2)),
                              ("tensors", pickle.dumps([], protocol=2))]:
            ti = tarfile.TarInfo(name)
            ti.size = len(payload)
            t.addfile(ti, io.BytesIO(payload))
    add("evil_legacy_tar.pt", "malicious", ["posix.system"], fmt="archive")

    # 7z archive around a malicious pickle (bsdtar from libarchive-tools)
    inner = p("evil_os_system.pkl")
    subprocess.run(["bsdtar", "--format", "7zip", "-cf", p("evil_archive.7z"), "-C", out,
                    os.path.basename(inner)], check=True)
    add("evil_archive.7z", "malicious", ["posix.system"], fmt="archive")

    # ---- suspicious and unscannable
    with open(p("unknown_global.pkl"), "wb") as f:
        f.write(b"\x80\x04" + op_str("mylib.models") + op_str("Thing") + b"\x93)R.")
    add("unknown_global.pkl", "suspicious", ["mylib.models.Thing"], fmt="pickle")
    with open(p("clean_state_dict.pt"), "rb") as f:
        data = f.read()
    with open(p("truncated.pt"), "wb") as f:
        f.write(data[: len(data) // 2])
    add("truncated.pt", "unscannable", complete=False)
    with open(p("truncated.pkl"), "wb") as f:
        f.write(pickle.dumps({"a": list(range(50))}, protocol=4)[:40])
    add("truncated.pkl", "unscannable", complete=False, fmt="pickle")
    with open(p("garbage.pt"), "wb") as f:
        f.write(b"#!not a model\n" + os.urandom(64).replace(b"\x80", b"\x00"))
    add("garbage.pt", "unscannable", complete=False)
    with open(p("bad_offsets.safetensors"), "wb") as f:
        hdr = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 999]}}).encode()
        f.write(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 16)
    add("bad_offsets.safetensors", "unscannable", complete=False, fmt="safetensors")
    with open(p("model.h5"), "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 128)
    add("model.h5", "unscannable", complete=False, fmt="hdf5")

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(m, f, indent=1)
    return m


if __name__ == "__main__":
    build(sys.argv[1])

"""Jupyter's kernel conformance suite (Debian's python3-jupyter-kernel-test) against the Lepton kernel.

Run it with Debian's Python after installing the kernel where Jupyter finds it, e.g.

    node dist/src/cli/main.js kernel install --prefix /tmp/lk
    JUPYTER_PATH=/tmp/lk/share/jupyter /usr/bin/python3 test/conformance/test_lepton_kernel.py -v

(not `python3 -m unittest test/conformance/...`: that imports it as `test.conformance...`, and `test` is
Python's own regression-test package).

test/kernel_conformance.test.ts does exactly that. LEPTON_KERNEL_NAME picks another installed name.
The is_complete samples are also checked, without a kernel, by test/kernel_is_complete.test.ts.
"""

import os
import unittest

import jupyter_kernel_test
from jupyter_client.manager import start_new_kernel

LEPTON = 'import * as lepton from "lepton"; '

# jupyter_kernel_test waits 15 s for each reply; the first cell that imports lepton (and TensorFlow.js)
# can take longer on a busy 2-core machine, so setUpClass runs that import once with a generous timeout.
WARM_UP_TIMEOUT = float(os.environ.get("LEPTON_CONFORMANCE_WARMUP_S", "180"))


class LeptonKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = os.environ.get("LEPTON_KERNEL_NAME", "lepton")

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name=cls.kernel_name, startup_timeout=WARM_UP_TIMEOUT)
        reply = cls.kc.execute_interactive(LEPTON + "lepton.inKernel()", timeout=WARM_UP_TIMEOUT,
                                           output_hook=lambda msg: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the warm-up cell failed: {reply['content']}")

    # kernel_info
    language_name = "typescript"
    file_extension = ".ts"

    # execute: stdout, stderr, error
    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops")'
    code_generate_error = 'throw new Error("boom")'

    # execute_result (also the cells test_history runs; code_history_pattern matches the first only)
    code_execute_result = [
        {"code": "6*7", "result": "42"},
        {"code": "[1, 2, 3].length", "result": "3"},
        {"code": "({a: 1})", "result": "{ a: 1 }"},
        {"code": LEPTON + 'lepton.html("<i>y</i>")', "mime": "text/html", "result": "<i>y</i>"},
    ]

    # display_data
    code_display_data = [
        {"code": LEPTON + 'lepton.display(lepton.html("<b>x</b>"))', "mime": "text/html"},
        {"code": LEPTON + 'lepton.display(lepton.mime({"text/markdown": "**x**", "text/plain": "x"}))',
         "mime": "text/markdown"},
        {"code": LEPTON + 'lepton.display(lepton.html("<b>x</b>")); lepton.display("plain")', "mime": "text/plain"},
    ]

    # history
    code_history_pattern = "6?7"
    supported_history_operations = ("tail", "range", "search")

    # complete_request
    completion_samples = [
        {"text": "Math.ma", "matches": {"max"}},
        {"text": "let abcdef = 1; abcd", "matches": {"abcdef"}},
        {"text": "console.lo"},
    ]

    # is_complete_request
    complete_code_samples = [
        "6*7",
        'console.log("hello, world")',
        "const a = 1;",
        "function f() {\n    return 1;\n}",
        "`a ${1} b`",
    ]
    incomplete_code_samples = [
        "function f() {",
        "if (x)",
        "[1, 2,",
        "`abc",
        "1 +",
        "/* a comment",
    ]
    invalid_code_samples = [
        "1 +* 2",
        ")",
        "let 5 = 3",
        "x = {a: 1 b: 2}",
    ]

    # inspect_request
    code_inspect_sample = "Math.max"

    # clear_output
    code_clear_output = LEPTON + "lepton.clearOutput()"


if __name__ == "__main__":
    unittest.main()

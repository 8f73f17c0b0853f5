// SPDX-License-Identifier: Apache-2.0
// The Python kernel driver, run as `python3 -u -c <source> <events-fifo>`.
//
// It keeps the user's globals in __main__, runs each cell's statements and evaluates a
// trailing expression (top-level await included) as the main result, the way IPython does.
// SIGINT is ignored while idle and raises KeyboardInterrupt while a cell runs.
#include "guest-agent/interpreter_drivers.hpp"

namespace nexus::agent {

namespace {

constexpr std::string_view kSource = R"NEXUS(
def _nexus_kernel():
    import ast, base64, builtins, io, json, linecache, os, pprint, signal, sys
    import threading, time, traceback
    import __main__

    ns = __main__.__dict__
    del ns['_nexus_kernel']
    # Read-write: opening never blocks, even if the agent is already gone.
    ev_fd = os.open(sys.argv[1], os.O_RDWR | os.O_CLOEXEC)
    ctl_fd = os.dup(0)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.close(null_fd)
    sys.argv = ['']
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def text_stream(fd):
        raw = io.FileIO(fd, 'w', closefd=False)
        return io.TextIOWrapper(io.BufferedWriter(raw), encoding='utf-8',
                                errors='backslashreplace', line_buffering=True)

    sys.stdout = sys.__stdout__ = text_stream(1)
    sys.stderr = sys.__stderr__ = text_stream(2)

    def flush():
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except Exception:
                pass

    def flusher():
        while True:
            time.sleep(0.05)
            flush()

    threading.Thread(target=flusher, name='nexus-flush', daemon=True).start()

    def send(obj):
        data = (json.dumps(obj, ensure_ascii=False) + '\n').encode('utf-8', 'replace')
        view = memoryview(data)
        # A KeyboardInterrupt must not cut an event line in half: hold SIGINT back.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            while view:
                view = view[os.write(ev_fd, view):]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def ignore_sigint():
        while True:
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                return
            except KeyboardInterrupt:
                pass

    mime_methods = (
        ('_repr_html_', 'html'), ('_repr_markdown_', 'markdown'), ('_repr_svg_', 'svg'),
        ('_repr_png_', 'png'), ('_repr_jpeg_', 'jpeg'), ('_repr_pdf_', 'pdf'),
        ('_repr_latex_', 'latex'), ('_repr_json_', 'json'),
        ('_repr_javascript_', 'javascript'))
    pretty_types = (dict, list, tuple, set, frozenset)

    def result_event(eid, value, main):
        ev = {'type': 'result', 'id': eid, 'is_main_result': main}
        if not isinstance(value, type):
            for meth, key in mime_methods:
                f = getattr(value, meth, None)
                if not callable(f):
                    continue
                try:
                    data = f()
                except Exception:
                    continue
                if isinstance(data, tuple) and data:
                    data = data[0]
                if data is None:
                    continue
                if key == 'json':
                    try:
                        json.dumps(data)
                    except Exception:
                        continue
                    ev[key] = data
                elif isinstance(data, bytes):
                    ev[key] = base64.b64encode(data).decode('ascii')
                else:
                    ev[key] = str(data)
        if type(value) in pretty_types:
            ev['text'] = pprint.pformat(value, sort_dicts=False)
        else:
            ev['text'] = repr(value)
        return ev

    def error_event(eid, e):
        tb = e.__traceback__
        start = tb
        while start is not None and not start.tb_frame.f_code.co_filename.startswith('<cell-'):
            start = start.tb_next
        lines = traceback.format_exception(type(e), e, start)
        return {'type': 'error', 'id': eid, 'name': type(e).__name__, 'value': str(e),
                'traceback': ''.join(lines)}

    current = {'id': None}

    def display(*objs, **kwargs):
        for obj in objs:
            flush()
            send(result_event(current['id'], obj, False))

    builtins.display = display

    # `from IPython.display import display, HTML, ...` works without IPython installed: a small
    # stand-in module, found only when the real IPython is not (it sits last on sys.meta_path).
    class _Rich:
        def __init__(self, data=None, url=None, filename=None, **kwargs):
            if data is None and filename is not None:
                with open(filename, 'rb') as f:
                    data = f.read()
            self.data, self.url, self.filename = data, url, filename
            self.format = kwargs.get('format')

        def _text(self):
            d = self.data
            return d.decode('utf-8', 'replace') if isinstance(d, bytes) else ('' if d is None else str(d))

        def __repr__(self):
            return '<%s object>' % type(self).__name__

    def rich(name, method):
        return type(name, (_Rich,), {method: lambda self: self._text()})

    class Image(_Rich):
        def _kind(self):
            fmt = (self.format or '').lower()
            name = (self.filename or self.url or '').lower()
            data = self.data if isinstance(self.data, bytes) else b''
            if fmt in ('jpg', 'jpeg') or name.endswith(('.jpg', '.jpeg')) or data[:2] == b'\xff\xd8':
                return 'jpeg'
            return 'png'

        def _repr_png_(self):
            return self.data if isinstance(self.data, bytes) and self._kind() == 'png' else None

        def _repr_jpeg_(self):
            return self.data if isinstance(self.data, bytes) and self._kind() == 'jpeg' else None

    class JSON(_Rich):
        def _repr_json_(self):
            return self.data

    display_names = {
        'display': display, 'Image': Image, 'JSON': JSON,
        'HTML': rich('HTML', '_repr_html_'), 'Markdown': rich('Markdown', '_repr_markdown_'),
        'SVG': rich('SVG', '_repr_svg_'), 'Latex': rich('Latex', '_repr_latex_'),
        'Javascript': rich('Javascript', '_repr_javascript_'),
    }

    import importlib.abc, importlib.machinery, types

    class IPythonStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name in ('IPython', 'IPython.display'):
                return importlib.machinery.ModuleSpec(name, self, is_package=(name == 'IPython'))
            return None

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            if module.__name__ == 'IPython':
                module.__path__ = []
            module.__dict__.update(display_names)

    sys.meta_path.append(IPythonStandIn())

    # Charts: matplotlib, when imported, draws with an inline backend whose figures become PNG
    # results, on plt.show() and at the end of the cell that drew them (as IPython's inline
    # backend does). MPLBACKEND set by the user wins.
    inline_backend = '_nexus_matplotlib_inline'

    def show_figures(*args, **kwargs):
        pyplot = sys.modules.get('matplotlib.pyplot')
        if pyplot is None:
            return
        for num in pyplot.get_fignums():
            buf = io.BytesIO()
            pyplot.figure(num).savefig(buf, format='png', bbox_inches='tight')
            display(Image(data=buf.getvalue()))
        pyplot.close('all')

    def inline_active():
        mpl = sys.modules.get('matplotlib')
        try:
            return mpl is not None and mpl.get_backend() == 'module://' + inline_backend
        except Exception:
            return False

    class MatplotlibHook(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name == inline_backend:
                return importlib.machinery.ModuleSpec(name, self)
            if name != 'matplotlib' or os.environ.get('MPLBACKEND'):
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, 'find_spec'):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None and spec.loader is not None:
                    break
            else:
                return None
            real_exec = spec.loader.exec_module

            def exec_module(module):
                real_exec(module)
                try:
                    module.use('module://' + inline_backend)
                except Exception:
                    pass

            spec.loader.exec_module = exec_module
            return spec

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            from matplotlib.backend_bases import FigureManagerBase
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            module.FigureCanvas = FigureCanvasAgg
            module.FigureManager = FigureManagerBase
            module.show = show_figures

    sys.meta_path.insert(0, MatplotlibHook())
    flags = getattr(ast, 'PyCF_ALLOW_TOP_LEVEL_AWAIT', 0)
    co_coroutine = 0x80
    loops = []

    def run_code(code_obj):
        if code_obj.co_flags & co_coroutine:
            if not loops:
                import asyncio
                loops.append(asyncio.new_event_loop())
            return loops[0].run_until_complete(eval(code_obj, ns))
        return eval(code_obj, ns)

    def quiet(code):
        for line in reversed(code.splitlines()):
            s = line.rstrip()
            if s and not s.lstrip().startswith('#'):
                return s.endswith(';')
        return False

    missing = object()

    def run_cell(code, filename):
        tree = ast.parse(code, filename, 'exec')
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr) and not quiet(code):
            last = tree.body.pop()
        if tree.body:
            run_code(compile(tree, filename, 'exec', flags, dont_inherit=True))
        if last is None:
            return missing
        expr = ast.Expression(last.value)
        return run_code(compile(expr, filename, 'eval', flags, dont_inherit=True))

    def execute(msg):
        eid = msg.get('id')
        code = msg.get('code')
        if not isinstance(code, str):
            code = ''
        env = msg.get('env')
        if not isinstance(env, dict):
            env = {}
        saved = {}
        for k, v in env.items():
            try:
                saved[k] = os.environ.get(k)
                os.environ[k] = str(v)
            except Exception:
                pass
        filename = '<cell-%s>' % eid
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        current['id'] = eid
        value, error = missing, None
        try:
            try:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                value = run_cell(code, filename)
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        except BaseException as e:
            error = e
        ignore_sigint()
        if error is None and inline_active():
            try:
                show_figures()
            except BaseException as e:
                error = e
        flush()
        for k, v in saved.items():
            try:
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            except Exception:
                pass
        if error is None and value is not missing and value is not None:
            ns['_'] = value
            try:
                send(result_event(eid, value, True))
            except BaseException as e:
                error = e
        if error is not None:
            try:
                send(error_event(eid, error))
            except BaseException as e:
                send({'type': 'error', 'id': eid, 'name': type(error).__name__,
                      'value': 'the error could not be formatted: %r' % e, 'traceback': ''})
        flush()
        current['id'] = None
        send({'type': 'done', 'id': eid})

    reader = io.BufferedReader(io.FileIO(ctl_fd, 'r'), 1 << 16)
    send({'type': 'ready'})
    while True:
        line = reader.readline()
        if not line:
            flush()
            os._exit(0)
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get('type') == 'execute':
            execute(msg)

_nexus_kernel()
)NEXUS";

}  // namespace

std::string_view python_driver_source() { return kSource; }

}  // namespace nexus::agent

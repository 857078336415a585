/*
 * native_ext.c - a C extension whose native frames are known, for
 * tests/e2e/test_native.py (--native). The test set-up builds it per
 * interpreter with `cc -shared` (no setuptools), -O0 so each call below is a
 * real frame, and once more stripped (-s) as -DMODNAME=nativechain_stripped:
 * then only the exported functions keep a name (.dynsym) and hidden_spin, a
 * static function, has none.
 *
 *   nativechain.c_a(callback)   c_a -> c_b -> callback() in Python
 *   nativechain.c_c()           spins for ever with the GIL released
 *   nativechain.hidden()        hidden_spin (static) spins with the GIL released
 *   nativechain.start_c_thread()  a pthread that never touches Python, named
 *                               "c-spinner": c_thread_main -> c_thread_spin
 *
 * Builds against Python 2.7 and 3.6-3.13 headers.
 */
#include <Python.h>
#include <pthread.h>

#ifndef MODNAME
#define MODNAME nativechain
#endif
#define TEXT_(x) #x
#define TEXT(x) TEXT_(x)
#define JOIN_(a, b) a##b
#define JOIN(a, b) JOIN_(a, b)

#define NOINLINE __attribute__((noinline))

static volatile unsigned long spins;

/* The leaf of the main chain: runs until the process is killed. */
NOINLINE PyObject *c_c(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    Py_BEGIN_ALLOW_THREADS
    for (;;)
        spins++;
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

NOINLINE PyObject *c_b(PyObject *callback)
{
    PyObject *r = PyObject_CallObject(callback, NULL);
    spins++; /* work after the call: not a tail call */
    return r;
}

NOINLINE PyObject *c_a(PyObject *self, PyObject *callback)
{
    (void)self;
    PyObject *r = c_b(callback);
    spins++;
    return r;
}

/* No .dynsym entry: stripped, it is known only by its address. */
NOINLINE static void hidden_spin(void)
{
    for (;;)
        spins++;
}

NOINLINE PyObject *hidden(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    Py_BEGIN_ALLOW_THREADS
    hidden_spin();
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

NOINLINE void c_thread_spin(void)
{
    for (;;)
        spins++;
}

NOINLINE void *c_thread_main(void *arg)
{
    (void)arg;
    c_thread_spin();
    return NULL;
}

NOINLINE PyObject *start_c_thread(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    pthread_t t;
    if (pthread_create(&t, NULL, c_thread_main, NULL) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    pthread_setname_np(t, "c-spinner");
    return PyLong_FromLong(0);
}

static PyMethodDef methods[] = {
    {"c_a", c_a, METH_O, "c_a(callback): c_a -> c_b -> callback()"},
    {"c_c", c_c, METH_NOARGS, "spin for ever, GIL released"},
    {"hidden", hidden, METH_NOARGS, "spin for ever in a static function"},
    {"start_c_thread", start_c_thread, METH_NOARGS, "start a C thread that spins"},
    {NULL, NULL, 0, NULL},
};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, TEXT(MODNAME), NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC JOIN(PyInit_, MODNAME)(void)
{
    return PyModule_Create(&module);
}
#else
PyMODINIT_FUNC JOIN(init, MODNAME)(void)
{
    Py_InitModule(TEXT(MODNAME), methods);
}
#endif

// pybind11 bindings of the native core: pycodec._core. Each entry point checks the
// arrays it gets, allocates its outputs with the GIL held, then releases the GIL for the
// work itself, in a scope that ends before any Python object is touched again.
// Errors become pycodec.errors exceptions.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "codebook_index.hpp"
#include "crc32.hpp"
#include "dense_choice.hpp"
#include "huffman_code.hpp"
#include "huffman_decode.hpp"
#include "huffman_encode.hpp"
#include "huffman_stream.hpp"
#include "planes.hpp"
#include "relative_index.hpp"
#include "scatter.hpp"
#include "sections.hpp"

namespace py = pybind11;
using namespace pycodec;

namespace {

// ------------------------------------------------------------------ argument helpers

void raise_project_error(const char* name, const char* message) {
    py::object cls = py::module_::import("pycodec.errors").attr(name);
    PyErr_SetString(cls.ptr(), message);
}

// A C-contiguous array of unsigned integers of `width` bytes (0 = 1 or 2).
void require_unsigned(const py::array& a, const char* what, size_t width = 0) {
    const size_t itemsize = static_cast<size_t>(a.itemsize());
    const bool ok_width = width ? itemsize == width : (itemsize == 1 || itemsize == 2);
    if (a.dtype().kind() != 'u' || !ok_width)
        throw InvalidArgument(std::string(what) + " must be a " + (width == 8 ? "uint64" : "uint8 or uint16") + " array");
    if (!(a.flags() & py::array::c_style)) throw InvalidArgument(std::string(what) + " must be C-contiguous");
}

void require_contiguous(const py::array& a, const char* what) {
    if (!(a.flags() & py::array::c_style)) throw InvalidArgument(std::string(what) + " must be C-contiguous");
}

// A 1-D C-contiguous array of unsigned integers of any width.
void require_flat_unsigned(const py::array& a, const char* what) {
    if (a.dtype().kind() != 'u' || !(a.flags() & py::array::c_style) || a.ndim() != 1)
        throw InvalidArgument(std::string(what) + " must be a 1-D C-contiguous unsigned integer array");
}

const uint8_t* bytes_of(const py::array& a) { return static_cast<const uint8_t*>(a.data()); }

// ------------------------------------------------------------------ output allocation
// Output sizes come from untrusted counts: one larger than the address space, or one the
// allocator refuses, is a LimitExceeded, never a numpy ValueError or a MemoryError.

void require_addressable(uint64_t count, size_t width, const char* what) {
    const uint64_t most = static_cast<uint64_t>(std::numeric_limits<py::ssize_t>::max()) / width;
    if (count > most)
        throw LimitExceeded(std::string(what) + " of " + std::to_string(count) + " elements of " +
                            std::to_string(width) + " byte(s) exceeds the address space");
}

// Runs `make` (an allocation through Python) with a MemoryError turned into LimitExceeded.
template <class Make>
auto allocating(const char* what, Make&& make) {
    try {
        return make();
    } catch (py::error_already_set& e) {
        if (!e.matches(PyExc_MemoryError)) throw;
        throw LimitExceeded(std::string("not enough memory for ") + what);
    }
}

// A bytes object of `size` bytes to write into, shrunk later by finish_bytes().
py::object new_bytes(size_t size) {
    require_addressable(size, 1, "output bytes");
    return allocating("the output bytes", [size] {
        PyObject* obj = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(size));
        if (!obj) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(obj);
    });
}

uint8_t* bytes_data(py::object& b) { return reinterpret_cast<uint8_t*>(PyBytes_AS_STRING(b.ptr())); }

py::object finish_bytes(py::object b, size_t size) {
    PyObject* obj = b.release().ptr();
    if (_PyBytes_Resize(&obj, static_cast<Py_ssize_t>(size)) != 0) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(obj);
}

// From this size on, output arrays are allocated here with malloc rather than by numpy:
// numpy advises the kernel to back arrays of 4 MiB and more with huge pages, and where
// transparent huge pages are on "madvise" (a common default) the first touch of such an
// array can stall on memory compaction. Measured on a first load of a 89 MB float32
// model: 132 ms with numpy's arrays, 82 ms with plain pages (torch.load: 64 ms, which
// asks for no huge pages either).
constexpr size_t kPlainPagesFrom = size_t{4} << 20;

template <class T>
py::array malloc_array(py::ssize_t n) {
    void* data = std::malloc(static_cast<size_t>(n) * sizeof(T));
    if (!data) throw LimitExceeded("not enough memory for the output array");
    py::capsule owner(data, [](void* p) { std::free(p); });
    return py::array_t<T>({n}, {static_cast<py::ssize_t>(sizeof(T))}, static_cast<T*>(data), owner);
}

template <class T>
py::array typed_array(py::ssize_t n) {
    if (static_cast<size_t>(n) * sizeof(T) >= kPlainPagesFrom) return malloc_array<T>(n);
    return py::array_t<T>(n);
}

py::array new_array(uint64_t count, size_t width) {
    require_addressable(count, width, "output array");
    const auto n = static_cast<py::ssize_t>(count);
    return allocating("the output array", [n, width]() -> py::array {
        if (width == 2) return typed_array<uint16_t>(n);
        if (width == 8) return typed_array<int64_t>(n);
        return typed_array<uint8_t>(n);
    });
}

// A zero-filled array like `like`'s dtype; numpy.zeros gets lazily zeroed pages.
py::array zeros_like_dtype(const py::array& like, uint64_t count) {
    require_addressable(count, static_cast<size_t>(like.itemsize()), "output array");
    return allocating("the output array", [&like, count]() -> py::array {
        return py::module_::import("numpy").attr("zeros")(count, like.dtype());
    });
}

// An array of `count` elements of `like`'s dtype, contents unset.
py::array empty_like_dtype(const py::array& like, uint64_t count) {
    require_addressable(count, static_cast<size_t>(like.itemsize()), "output array");
    return allocating("the output array", [&like, count] {
        return py::array(like.dtype(), std::vector<py::ssize_t>{static_cast<py::ssize_t>(count)});
    });
}

CanonicalCode code_from_arrays(int symbol_bits, const py::array_t<uint16_t, py::array::c_style>& symbols,
                               const py::array_t<uint8_t, py::array::c_style>& lengths) {
    if (symbol_bits != 8 && symbol_bits != 16) throw InvalidArgument("symbol_bits must be 8 or 16");
    if (symbols.size() != lengths.size()) throw InvalidArgument("code symbols and lengths differ in length");
    CanonicalCode code;
    code.symbol_bits = symbol_bits;
    code.symbols.assign(symbols.data(), symbols.data() + symbols.size());
    code.lengths.assign(lengths.data(), lengths.data() + lengths.size());
    try {
        validate_code(code);
    } catch (const CorruptStream& e) {
        throw InvalidArgument(std::string("invalid code: ") + e.what());
    }
    return code;
}

// ------------------------------------------------------------------ Huffman pieces

py::array histogram(const py::array& symbols) {
    require_unsigned(symbols, "symbols");
    const size_t width = static_cast<size_t>(symbols.itemsize());
    py::array_t<uint64_t> counts(static_cast<py::ssize_t>(size_t{1} << (8 * width)));
    uint64_t* c = counts.mutable_data();
    std::fill_n(c, counts.size(), uint64_t{0});
    const size_t n = static_cast<size_t>(symbols.size());
    const void* data = symbols.data();
    {
        py::gil_scoped_release release;
        if (width == 1)
            histogram_u8(static_cast<const uint8_t*>(data), n, c);
        else
            histogram_u16(static_cast<const uint16_t*>(data), n, c);
    }
    return counts;
}

py::array code_lengths(const py::array_t<uint64_t, py::array::c_style>& counts, int max_length) {
    if (max_length < 1 || max_length > kMaxCodeLength) throw InvalidArgument("max_code_length must be in 1..16");
    std::vector<uint64_t> c(counts.data(), counts.data() + counts.size());
    std::vector<uint8_t> lengths;
    {
        py::gil_scoped_release release;
        lengths = limited_code_lengths(c, max_length);
    }
    py::array out = new_array(lengths.size(), 1);
    std::copy(lengths.begin(), lengths.end(), static_cast<uint8_t*>(out.mutable_data()));
    return out;
}

py::object serialize_code_py(int symbol_bits, const py::array_t<uint16_t, py::array::c_style>& symbols,
                             const py::array_t<uint8_t, py::array::c_style>& lengths) {
    const CanonicalCode code = code_from_arrays(symbol_bits, symbols, lengths);
    const size_t size = serialized_code_size(code);
    py::object out = new_bytes(size);
    ByteWriter w(bytes_data(out));
    serialize_code(code, w);
    return out;
}

py::tuple parse_code_py(const py::array& data, int symbol_bits) {
    require_unsigned(data, "data", 1);
    if (symbol_bits != 8 && symbol_bits != 16) throw InvalidArgument("symbol_bits must be 8 or 16");
    ByteReader in(bytes_of(data), static_cast<size_t>(data.size()));
    const CanonicalCode code = parse_code(in, symbol_bits);
    py::array_t<uint16_t> symbols(static_cast<py::ssize_t>(code.symbols.size()));
    py::array_t<uint8_t> lengths(static_cast<py::ssize_t>(code.lengths.size()));
    std::copy(code.symbols.begin(), code.symbols.end(), symbols.mutable_data());
    std::copy(code.lengths.begin(), code.lengths.end(), lengths.mutable_data());
    return py::make_tuple(symbols, lengths, in.offset());
}

py::object encode_with_code_py(const py::array& symbols, const py::array_t<uint16_t, py::array::c_style>& code_symbols,
                               const py::array_t<uint8_t, py::array::c_style>& code_lengths) {
    require_unsigned(symbols, "symbols");
    const int bits = 8 * static_cast<int>(symbols.itemsize());
    const CanonicalCode code = code_from_arrays(bits, code_symbols, code_lengths);
    const size_t n = static_cast<size_t>(symbols.size());
    const EncodeTable table = make_encode_table(code, n);
    std::vector<uint64_t> counts(size_t{1} << bits, 0);
    {
        py::gil_scoped_release release;
        if (bits == 8)
            histogram_u8(static_cast<const uint8_t*>(symbols.data()), n, counts.data());
        else
            histogram_u16(static_cast<const uint16_t*>(symbols.data()), n, counts.data());
    }
    std::vector<uint8_t> lengths(counts.size(), 0);
    for (size_t i = 0; i < code.symbols.size(); ++i) lengths[code.symbols[i]] = code.lengths[i];
    for (size_t s = 0; s < counts.size(); ++s)
        if (counts[s] && !lengths[s])
            throw InvalidArgument("symbol " + std::to_string(s) + " has no code in the given code table");
    const size_t size = static_cast<size_t>((coded_bits(counts.data(), lengths.data(), lengths.size()) + 7) / 8);
    py::object out = new_bytes(size + 8);  // + 8: the bit writer's spill
    uint8_t* dst = bytes_data(out);
    size_t written;
    {
        py::gil_scoped_release release;  // the symbols may change meanwhile: written stays within size + 8
        if (bits == 8)
            written = encode_symbols(static_cast<const uint8_t*>(symbols.data()), n, table, dst, size);
        else
            written = encode_symbols(static_cast<const uint16_t*>(symbols.data()), n, table, dst, size);
    }
    if (written != size) throw DataChanged("symbols");
    return finish_bytes(std::move(out), size);
}

py::array decode_with_code_py(const py::array& data, int symbol_bits,
                              const py::array_t<uint16_t, py::array::c_style>& code_symbols,
                              const py::array_t<uint8_t, py::array::c_style>& code_lengths, uint64_t count) {
    require_unsigned(data, "data", 1);
    const CanonicalCode code = code_from_arrays(symbol_bits, code_symbols, code_lengths);
    const size_t size = static_cast<size_t>(data.size());
    if (count / 8 > size)
        throw CorruptStream("requested " + std::to_string(count) + " symbols from only " + std::to_string(size) +
                            " byte(s)");
    py::array out = new_array(count, static_cast<size_t>(symbol_bits / 8));
    void* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        const DecodeTables tables = make_decode_tables(code);
        Substream sub{bytes_of(data), size, dst, static_cast<size_t>(count)};
        decode_substreams(tables, &sub, 1, bytes_of(data) + size);
    }
    return out;
}

// ------------------------------------------------------------------ Huffman streams

py::object huffman_encode_py(const py::array& symbols, int max_length) {
    require_unsigned(symbols, "symbols");
    if (max_length < 1 || max_length > kMaxCodeLength) throw InvalidArgument("max_code_length must be in 1..16");
    const size_t n = static_cast<size_t>(symbols.size());
    const void* src = symbols.data();
    const bool wide = symbols.itemsize() == 2;
    StreamLayout layout;
    {
        py::gil_scoped_release release;
        layout = wide ? plan_stream(static_cast<const uint16_t*>(src), n, max_length)
                      : plan_stream(static_cast<const uint8_t*>(src), n, max_length);
    }
    py::object out = new_bytes(layout.total_bytes + 8);  // + 8: the bit writer's spill
    uint8_t* dst = bytes_data(out);
    {
        py::gil_scoped_release release;
        write_stream(layout, src, dst);
    }
    return finish_bytes(std::move(out), layout.total_bytes);
}

// Each byte plane's histogram per encoder segment (segment_histograms) of one array,
// counted ahead of planes_encode, which takes them for that array only (the same buffer,
// length and width, kept alive by them): counts of other elements would make a wrong code.
struct PlaneCounts {
    py::object owner;
    const void* data = nullptr;
    size_t count = 0;
    size_t width = 0;
    size_t segments = 0;
    std::vector<uint64_t> counts;  // (width, segments, 256)
};

PlaneCounts count_planes_py(const py::array& elements) {
    require_flat_unsigned(elements, "elements");
    PlaneCounts counted;
    counted.owner = elements;
    counted.data = elements.data();
    counted.count = static_cast<size_t>(elements.size());
    counted.width = static_cast<size_t>(elements.itemsize());
    counted.segments = static_cast<size_t>(encoder_segments(counted.count));
    counted.counts.assign(counted.width * counted.segments * 256, 0);
    const uint8_t* src = static_cast<const uint8_t*>(counted.data);
    {
        py::gil_scoped_release release;
        for (size_t plane = 0; plane < counted.width; ++plane)
            segment_histograms(src + plane, counted.count, counted.width,
                               counted.counts.data() + plane * counted.segments * 256);
    }
    return counted;
}

const uint64_t* counts_for(const py::object& given, const py::array& elements) {
    if (given.is_none()) return nullptr;
    if (!py::isinstance<PlaneCounts>(given)) throw InvalidArgument("counted must be plane counts taken of these elements");
    const PlaneCounts& counted = given.cast<const PlaneCounts&>();
    if (counted.data != elements.data() || counted.count != static_cast<size_t>(elements.size()) ||
        counted.width != static_cast<size_t>(elements.itemsize()))
        throw InvalidArgument("the plane counts were made for other elements");
    return counted.counts.data();
}

// planes_encode's arguments checked; the elements' width in bytes.
size_t check_planes_arguments(const py::array& elements, unsigned coded_mask, int max_length) {
    const size_t width = static_cast<size_t>(elements.itemsize());
    if (elements.dtype().kind() != 'u' || !is_plane_width(width))
        throw InvalidArgument("elements must be a uint8, uint16, uint32 or uint64 array");
    require_contiguous(elements, "elements");
    if (coded_mask >> width) throw InvalidArgument("plane_mask has bits past the element's planes");
    if (max_length < 1 || max_length > kMaxCodeLength) throw InvalidArgument("max_code_length must be in 1..16");
    return width;
}

// The planes section of spec/dcz.md 5.7 and each plane's stream length (0: stored raw).
py::tuple planes_encode_py(const py::array& elements, unsigned coded_mask, int max_length, int threads,
                           const py::object& counted_planes) {
    const size_t width = check_planes_arguments(elements, coded_mask, max_length);
    const size_t count = static_cast<size_t>(elements.size());
    const uint8_t* src = bytes_of(elements);
    const uint64_t* counted = counts_for(counted_planes, elements);
    PlanesPlan plan;
    {
        py::gil_scoped_release release;
        plan = plan_planes(src, count, static_cast<int>(width), coded_mask, max_length, threads, counted);
    }
    py::object out = new_bytes(plan.total_bytes() + 8);  // + 8: the bit writer's spill
    uint8_t* dst = bytes_data(out);
    {
        py::gil_scoped_release release;
        write_planes(plan, dst, threads);
    }
    py::tuple lengths(width);
    for (size_t k = 0; k < width; ++k) lengths[k] = py::int_(plan.stream_bytes[k]);
    return py::make_tuple(finish_bytes(std::move(out), plan.total_bytes()), lengths);
}

// Planes sections coded on one native thread of its own, in the order submitted, while
// the callers go on (the writer chooses the next tensor's encoding meanwhile). The thread
// never takes the GIL: a coding handed to a Python thread must win the GIL back to return,
// and with the caller running Python it waited up to as long again as the coding took.
// The thread is started on the first job and kept (starting and joining one took about
// 0.15 ms a save). Each job keeps its elements (and counts) alive until its result is
// taken or it is dropped; Python objects are only ever released with the GIL held.
class PlanesCoder {
public:
    PlanesCoder() : pid_(getpid()), state_(new State) {}
    PlanesCoder(const PlanesCoder&) = delete;
    PlanesCoder& operator=(const PlanesCoder&) = delete;
    ~PlanesCoder() {
        // In a forked child the thread does not exist, and the lock and the condition
        // variables may be held or waited on by threads that do not either (destroying a
        // condition variable the parent's thread waited on blocks forever): the whole state
        // is leaked there, never touched.
        if (getpid() != pid_) return;
        stop();
        delete state_->worker;
        delete state_;
    }

    // Queues the planes section of `elements` (planes_encode's arguments, checked here);
    // returns the job's number for result() or drop().
    uint64_t submit(const py::array& elements, unsigned coded_mask, int max_length, const py::object& counted_planes) {
        const size_t width = check_planes_arguments(elements, coded_mask, max_length);
        check_process();
        auto job = std::make_shared<Job>();
        job->elements = elements;
        job->counted = counted_planes;
        job->src = bytes_of(elements);
        job->count = static_cast<size_t>(elements.size());
        job->width = static_cast<int>(width);
        job->mask = coded_mask;
        job->max_length = max_length;
        job->segment_counts = counts_for(counted_planes, elements);
        std::vector<std::shared_ptr<Job>> released;  // dropped jobs now done: released after unlocking
        uint64_t id;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            if (state_->stopping) throw InvalidArgument("the coder is closed");
            sweep_dropped(released);
            id = state_->next_id++;
            state_->jobs.emplace(id, job);
            state_->queue.push_back(job);
            if (state_->worker == nullptr) state_->worker = new std::thread([this] { run(); });
        }
        state_->wake.notify_one();
        return id;
    }

    // The job's (section, lengths), as planes_encode returns them, once coded (waiting
    // without the GIL); its error where coding failed. Each result is taken once.
    py::tuple result(uint64_t id) {
        check_process();
        std::shared_ptr<Job> job = take(id);
        {
            py::gil_scoped_release release;
            std::unique_lock<std::mutex> lock(state_->mutex);
            state_->done.wait(lock, [&] { return job->finished; });
        }
        if (job->error) std::rethrow_exception(job->error);
        py::tuple lengths(static_cast<size_t>(job->width));
        for (size_t k = 0; k < static_cast<size_t>(job->width); ++k) lengths[k] = py::int_(job->plan.stream_bytes[k]);
        // the section is handed over as an array owning the coder's buffer: no copy
        auto* section = new std::vector<uint8_t>(std::move(job->section));
        py::capsule owner(section, [](void* p) { delete static_cast<std::vector<uint8_t>*>(p); });
        py::array_t<uint8_t> out(static_cast<py::ssize_t>(job->plan.total_bytes()), section->data(), owner);
        return py::make_tuple(out, lengths);
    }

    // Gives up a job whose result will not be taken (after an error elsewhere): not coded
    // if not begun; else its elements are released once it is done.
    void drop(uint64_t id) {
        check_process();
        std::shared_ptr<Job> job = take(id);
        std::lock_guard<std::mutex> lock(state_->mutex);
        if (job->finished || !job->begun) {
            job->skip = true;
            job->elements = py::object();  // released here, the GIL held: the worker may
            job->counted = py::object();   // hold the last reference to a job not begun
            return;
        }
        state_->dropped.push_back(std::move(job));
    }

    // Stops the thread once the job it is on is done; jobs not begun fail with an error.
    void stop() {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->stopping = true;
        }
        state_->wake.notify_one();
        // joined with the GIL held: the thread never takes it, and releasing the GIL here
        // is not safe while the interpreter finalizes (the kept coder is destroyed then)
        if (state_->worker != nullptr && state_->worker->joinable()) state_->worker->join();
        std::lock_guard<std::mutex> lock(state_->mutex);
        for (auto& entry : state_->jobs) {
            Job& job = *entry.second;
            if (!job.finished) {  // never begun: its result is an error, not a wait
                job.error = std::make_exception_ptr(InvalidArgument("the coder was closed before coding this job"));
                job.finished = true;
            }
        }
        state_->done.notify_all();
    }

private:
    struct Job {
        py::object elements, counted;  // kept alive; released with the GIL only
        const uint8_t* src = nullptr;
        size_t count = 0;
        int width = 0;
        unsigned mask = 0;
        int max_length = 0;
        const uint64_t* segment_counts = nullptr;
        PlanesPlan plan;
        std::vector<uint8_t> section;
        std::exception_ptr error;
        bool begun = false, finished = false, skip = false;
    };

    void check_process() const {
        if (getpid() != pid_) throw InvalidArgument("a planes coder cannot be used in a forked child; make a new one");
    }

    std::shared_ptr<Job> take(uint64_t id) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        auto found = state_->jobs.find(id);
        if (found == state_->jobs.end()) throw InvalidArgument("no such job, or its result was taken");
        std::shared_ptr<Job> job = std::move(found->second);
        state_->jobs.erase(found);
        return job;
    }

    // Moves the dropped jobs that are done into `released` (the caller holds the lock).
    void sweep_dropped(std::vector<std::shared_ptr<Job>>& released) {
        auto done = std::stable_partition(state_->dropped.begin(), state_->dropped.end(), [](const auto& job) { return !job->finished; });
        std::move(done, state_->dropped.end(), std::back_inserter(released));
        state_->dropped.erase(done, state_->dropped.end());
    }

    void run() {
        for (;;) {
            std::shared_ptr<Job> job;
            {
                std::unique_lock<std::mutex> lock(state_->mutex);
                state_->wake.wait(lock, [&] { return state_->stopping || !state_->queue.empty(); });
                if (state_->stopping) return;
                job = std::move(state_->queue.front());
                state_->queue.pop_front();
                if (job->skip) {
                    job->finished = true;
                    job.reset();  // drop() released its Python objects: none are left here
                    continue;
                }
                job->begun = true;
            }
            code(*job);
            {
                std::lock_guard<std::mutex> lock(state_->mutex);
                job->finished = true;
                // a job may hold the last reference to Python objects only where it was
                // taken (result, drop): those hold a reference of their own until done
                job.reset();
            }
            state_->done.notify_all();
        }
    }

    static void code(Job& job) {
        try {
            job.plan = plan_planes(job.src, job.count, job.width, job.mask, job.max_length, 1, job.segment_counts);
            job.section.resize(job.plan.total_bytes() + 8);  // + 8: the bit writer's spill
            write_planes(job.plan, job.section.data(), 1);
        } catch (...) {
            job.error = std::current_exception();
        }
    }

    struct State {
        std::mutex mutex;
        std::condition_variable wake, done;
        std::unordered_map<uint64_t, std::shared_ptr<Job>> jobs;  // submitted, result not yet taken
        std::deque<std::shared_ptr<Job>> queue;                    // not yet begun, in order
        std::vector<std::shared_ptr<Job>> dropped;                 // dropped while being coded
        std::thread* worker = nullptr;
        uint64_t next_id = 0;
        bool stopping = false;
    };

    const pid_t pid_;
    State* state_;  // a pointer: a forked child must never destroy it
};

py::array huffman_decode_py(const py::array& data, uint64_t max_symbols) {
    require_unsigned(data, "data", 1);
    const uint8_t* bytes = bytes_of(data);
    const size_t size = static_cast<size_t>(data.size());
    const StreamLayout layout = parse_stream(bytes, size, max_symbols);
    py::array out = new_array(layout.count, static_cast<size_t>(layout.symbol_bits / 8));
    void* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        decode_stream(layout, bytes, size, dst);
    }
    return out;
}

// A stream parsed and validated once; decoded later without parsing it again.
struct ParsedStream {
    StreamLayout layout;
    py::array data;

    size_t distinct() const {
        return layout.mode == StreamMode::kHuffman ? layout.code.symbols.size() : (layout.mode == StreamMode::kSingle);
    }
    // The largest symbol the stream can produce (its code table's, unused ones included).
    int64_t max_symbol() const {
        if (layout.mode == StreamMode::kSingle) return layout.single_symbol;
        if (layout.mode == StreamMode::kHuffman)
            return *std::max_element(layout.code.symbols.begin(), layout.code.symbols.end());
        return -1;
    }
    // The decoder's lookup table for this stream: (width in bits, bytes per entry).
    py::object decode_table() const {
        if (layout.mode != StreamMode::kHuffman) return py::none();
        const TableLayout t = choose_table_layout(layout.code, layout.count);
        return py::make_tuple(t.bits, t.compact ? 4 : 8);
    }
    py::array decode() const {
        const uint8_t* bytes = bytes_of(data);
        const size_t size = static_cast<size_t>(data.size());
        py::array out = new_array(layout.count, static_cast<size_t>(layout.symbol_bits / 8));
        void* dst = out.mutable_data();
        {
            py::gil_scoped_release release;
            decode_stream(layout, bytes, size, dst);
        }
        return out;
    }
};

ParsedStream huffman_parse_py(const py::array& data, uint64_t max_symbols) {
    require_unsigned(data, "data", 1);
    ParsedStream parsed{parse_stream(bytes_of(data), static_cast<size_t>(data.size()), max_symbols), data};
    return parsed;
}

// Occurrences of every value of a uint8 or uint16 array (256 or 65,536 counts).
py::array histogram_py(const py::array& symbols) {
    const size_t width = static_cast<size_t>(symbols.itemsize());
    if (symbols.dtype().kind() != 'u' || (width != 1 && width != 2)) throw InvalidArgument("symbols must be uint8 or uint16");
    require_contiguous(symbols, "symbols");
    py::array_t<uint64_t> counts(size_t{1} << (8 * width));
    uint64_t* out = counts.mutable_data();
    const size_t n = static_cast<size_t>(symbols.size());
    const void* src = symbols.data();
    py::gil_scoped_release release;
    std::fill_n(out, size_t{1} << (8 * width), uint64_t{0});
    if (width == 1)
        histogram_u8(static_cast<const uint8_t*>(src), n, out);
    else
        histogram_u16(static_cast<const uint16_t*>(src), n, out);
    return counts;
}

// zlib.crc32's result, computed without the GIL above a few KiB (the sections' checksums).
uint32_t crc32_py(const py::array& data, uint32_t value) {
    require_unsigned(data, "data", 1);
    require_contiguous(data, "data");
    const uint8_t* bytes = bytes_of(data);
    const size_t size = static_cast<size_t>(data.size());
    if (size < (size_t{1} << 14)) return crc32_update(value, bytes, size);
    py::gil_scoped_release release;
    return crc32_update(value, bytes, size);
}

// A planes section decoded (spec/dcz.md 5.7): `planes` holds, per plane, its parsed stream
// (ParsedStream of `count` 8-bit symbols) or its `count` raw bytes (uint8 array).
py::array planes_decode_py(const py::list& planes, uint64_t count, int threads) {
    const size_t width = planes.size();
    if (!is_plane_width(width)) throw InvalidArgument("planes must hold 1, 2, 4 or 8 planes");
    if (threads < 1) throw InvalidArgument("threads must be at least 1");
    std::vector<PlaneSource> sources;
    for (const py::handle& item : planes) {
        if (py::isinstance<ParsedStream>(item)) {
            const ParsedStream& parsed = item.cast<const ParsedStream&>();
            if (parsed.layout.symbol_bits != 8 || parsed.layout.count != count)
                throw InvalidArgument("each coded plane must be a stream of count 8-bit symbols");
            sources.push_back({&parsed.layout, bytes_of(parsed.data), static_cast<size_t>(parsed.data.size())});
        } else if (py::isinstance<py::array>(item)) {
            const py::array raw = py::reinterpret_borrow<py::array>(item);
            require_unsigned(raw, "each raw plane", 1);
            require_contiguous(raw, "each raw plane");
            if (raw.ndim() != 1 || static_cast<uint64_t>(raw.size()) != count)
                throw InvalidArgument("each raw plane must be a 1-D array of count bytes");
            sources.push_back({nullptr, bytes_of(raw), static_cast<size_t>(count)});
        } else {
            throw InvalidArgument("planes must hold parsed streams or uint8 arrays");
        }
    }
    require_addressable(count, width, "decoded planes");
    py::array out = new_array(static_cast<size_t>(count) * width, 1);
    uint8_t* dst = static_cast<uint8_t*>(out.mutable_data());
    {
        py::gil_scoped_release release;  // `planes` (held by the caller) keeps every buffer alive
        decode_planes(sources, static_cast<size_t>(count), dst, threads);
    }
    return out;
}

// The reader's read_all (sections.hpp). `source`: an open file's descriptor, or a uint8
// array of the file's bytes (kept alive by the caller). Each job: (offset, length, crc32,
// plane_streams or None, count). Returns each job's output (uint8: a planes section's
// joined elements, or a raw section's bytes), None where it failed, and why each failed.
py::tuple read_sections_py(const py::object& source, const py::list& jobs, int threads) {
    if (threads < 1) throw InvalidArgument("threads must be at least 1");
    SectionSource from;
    if (py::isinstance<py::int_>(source)) {
        from.fd = source.cast<int>();
        if (from.fd < 0) throw InvalidArgument("source must be an open file descriptor or a uint8 array");
    } else {
        const py::array bytes = py::reinterpret_borrow<py::array>(source);
        require_unsigned(bytes, "source", 1);
        require_contiguous(bytes, "source");
        from.data = bytes_of(bytes);
        from.size = static_cast<size_t>(bytes.size());
    }
    std::vector<SectionJob> work(jobs.size());
    py::list outputs(jobs.size());
    for (size_t k = 0; k < work.size(); ++k) {
        const py::tuple job = jobs[k].cast<py::tuple>();
        if (job.size() != 5) throw InvalidArgument("each job must be (offset, length, crc32, plane_streams, count)");
        SectionJob& w = work[k];
        w.offset = job[0].cast<uint64_t>();
        w.length = job[1].cast<uint64_t>();
        w.crc32 = job[2].cast<uint32_t>();
        const py::object streams = job[3];
        w.count = job[4].cast<uint64_t>();
        if (!streams.is_none())
            for (const py::handle& n : streams.cast<py::tuple>()) w.plane_streams.push_back(n.cast<uint64_t>());
        const size_t width = w.plane_streams.size();
        if (!streams.is_none() && !is_plane_width(width))
            throw InvalidArgument("plane_streams must have 1, 2, 4 or 8 entries");
        require_addressable(w.count, std::max<size_t>(width, 1), "decoded section");
        py::array out = new_array(streams.is_none() ? w.length : w.count * width, 1);
        w.out = static_cast<uint8_t*>(out.mutable_data());
        outputs[k] = out;
    }
    std::vector<std::string> failed;
    {
        py::gil_scoped_release release;  // `source` and `outputs` are held until we return
        failed = read_sections(from, work, threads);
    }
    py::list errors(work.size());
    for (size_t k = 0; k < work.size(); ++k) {
        if (failed[k].empty()) {
            errors[k] = py::none();
        } else {
            errors[k] = py::str(failed[k]);
            outputs[k] = py::none();
        }
    }
    return py::make_tuple(outputs, errors);
}

// The plan's size, or None where it is certainly above `at_most` bytes (given): decided
// from the unlimited code's total, without package-merge (thousands of symbols: the
// costly part of sizing a codebook that then loses).
py::object huffman_plan_size_py(const py::array_t<uint64_t, py::array::c_style>& counts, int symbol_bits, int max_length,
                                const py::object& at_most) {
    if (symbol_bits != 8 && symbol_bits != 16) throw InvalidArgument("symbol_bits must be 8 or 16");
    if (max_length < 1 || max_length > kMaxCodeLength) throw InvalidArgument("max_code_length must be in 1..16");
    const size_t alphabet = size_t{1} << symbol_bits;
    if (static_cast<size_t>(counts.size()) > alphabet) throw InvalidArgument("more counts than the symbol width allows");
    // symbols past the counts given are unused: no need to walk all 65,536 of a 16-bit alphabet
    std::vector<uint64_t> given(counts.data(), counts.data() + counts.size());
    const bool bounded = !at_most.is_none();
    const uint64_t limit = bounded ? at_most.cast<uint64_t>() : 0;
    bool within = false;
    uint64_t size = 0;
    {
        py::gil_scoped_release release;
        within = plan_size_at_most(given, symbol_bits, max_length, bounded ? limit : std::numeric_limits<uint64_t>::max(), size);
    }
    if (!within) return py::none();
    return py::int_(size);
}

// The writer's estimate of each plane's stream (planes.hpp plan_plane_sizes).
py::list plan_plane_sizes_py(const py::array_t<uint64_t, py::array::c_style>& histograms, double scale,
                             uint64_t numel, int max_length) {
    if (histograms.ndim() != 2 || histograms.shape(1) != 256) throw InvalidArgument("histograms must be (planes, 256)");
    if (!(scale >= 1.0) || !std::isfinite(scale)) throw InvalidArgument("scale must be a finite number >= 1");
    if (max_length < 1 || max_length > kMaxCodeLength) throw InvalidArgument("max_code_length must be in 1..16");
    const size_t planes = static_cast<size_t>(histograms.shape(0));
    const uint64_t* rows = histograms.data();
    std::vector<uint64_t> sizes;
    {
        py::gil_scoped_release release;
        sizes = plan_plane_sizes(rows, planes, scale, numel, max_length);
    }
    py::list out;
    for (uint64_t size : sizes) out.append(py::int_(size));
    return out;
}

// The writer's native choice for tensors no zstd frame can win (dense_choice.hpp): for each
// job (bits, planes_ok, codebook_ok, header_bytes), None where the Python choice must
// decide, ("raw", None, None, crc32), or ("planes", section, plane stream lengths, crc32)
// (the CRC-32 of the section). `rules`: the Python choice's thresholds, in DenseRules' order.
DenseRules dense_rules_of(const py::tuple& rules) {
    if (rules.size() != 12) throw InvalidArgument("rules must hold the choice's 12 thresholds");
    DenseRules r;
    r.planes_min_numel = rules[0].cast<uint64_t>();
    r.zstd_min_bytes = rules[1].cast<uint64_t>();
    r.sample = rules[2].cast<uint64_t>();
    r.distinct_gate = rules[3].cast<double>();
    r.table_bytes_per_symbol = rules[4].cast<double>();
    r.count_from = rules[5].cast<uint64_t>();
    r.first_look = rules[6].cast<uint64_t>();
    r.slack = rules[7].cast<double>();
    r.max_codebook_size = rules[8].cast<uint64_t>();
    r.max_code_length = rules[9].cast<int>();
    r.repeat_sample = rules[10].cast<uint64_t>();
    r.repeat_gate = rules[11].cast<double>();
    if (r.sample < 1 || r.first_look < 1 || r.repeat_sample < 1)
        throw InvalidArgument("sample, first_look and repeat_sample must be at least 1");
    if (r.max_codebook_size < 1 || r.max_codebook_size > kMaxCodebookSize) throw InvalidArgument("max_codebook_size must be in 1..65536");
    if (r.max_code_length < 1 || r.max_code_length > kMaxCodeLength) throw InvalidArgument("max_code_length must be in 1..16");
    return r;
}

py::list choose_dense_py(const py::list& jobs, const py::tuple& rules, int threads, uint64_t parallel_from_bytes,
                         const py::object& gate) {
    if (threads < 1) throw InvalidArgument("threads must be at least 1");
    const DenseRules checked = dense_rules_of(rules);
    std::shared_ptr<WorkerGate> kept_gate = gate.is_none() ? nullptr : gate.cast<std::shared_ptr<WorkerGate>>();
    WorkerGate* held = kept_gate.get();
    std::vector<DenseTensor> tensors(jobs.size());
    std::vector<py::array> kept;  // the elements, alive (and unmoved) while the GIL is released
    kept.reserve(jobs.size());
    for (size_t k = 0; k < tensors.size(); ++k) {
        const py::tuple job = jobs[k].cast<py::tuple>();
        if (job.size() != 4) throw InvalidArgument("each job must be (bits, planes_ok, codebook_ok, header_bytes)");
        kept.push_back(job[0].cast<py::array>());
        const py::array& bits = kept.back();
        require_flat_unsigned(bits, "bits");
        const size_t width = static_cast<size_t>(bits.itemsize());
        if (!is_plane_width(width)) throw InvalidArgument("bits must be a uint8, uint16, uint32 or uint64 array");
        DenseTensor& t = tensors[k];
        t.bits = bytes_of(bits);
        t.count = static_cast<size_t>(bits.size());
        t.width = static_cast<int>(width);
        t.planes_ok = job[1].cast<bool>();
        t.codebook_ok = job[2].cast<bool>();
        t.header_bytes = job[3].cast<uint64_t>();
    }
    {
        py::gil_scoped_release release;
        choose_dense_all(tensors, checked, threads, parallel_from_bytes, held);
    }
    py::list out(tensors.size());
    for (size_t k = 0; k < tensors.size(); ++k) {
        DenseTensor& t = tensors[k];
        if (t.outcome == DenseOutcome::Undecided) {
            out[k] = py::none();
        } else if (t.outcome == DenseOutcome::Raw) {
            out[k] = py::make_tuple("raw", py::none(), py::none(), t.crc32);
        } else {
            py::tuple lengths(t.stream_bytes.size());
            for (size_t p = 0; p < t.stream_bytes.size(); ++p) lengths[p] = py::int_(t.stream_bytes[p]);
            // the section is handed over as an array owning the buffer: no copy
            auto* section = new std::vector<uint8_t>(std::move(t.section));
            py::capsule owner(section, [](void* p) { delete static_cast<std::vector<uint8_t>*>(p); });
            out[k] = py::make_tuple("planes", py::array_t<uint8_t>(static_cast<py::ssize_t>(t.section_bytes), section->data(), owner),
                                    lengths, t.crc32);
        }
    }
    return out;
}

// zstd_frames.worth_probing of each (uint8 array, floats) job, in one call without the GIL.
py::list worth_probing_py(const py::list& jobs, const py::tuple& rules) {
    const DenseRules checked = dense_rules_of(rules);
    std::vector<const uint8_t*> data(jobs.size());
    std::vector<size_t> sizes(jobs.size());
    std::vector<char> floats(jobs.size()), found(jobs.size());
    std::vector<py::array> kept;
    kept.reserve(jobs.size());
    for (size_t k = 0; k < jobs.size(); ++k) {
        const py::tuple job = jobs[k].cast<py::tuple>();
        if (job.size() != 2) throw InvalidArgument("each job must be (data, floats)");
        kept.push_back(job[0].cast<py::array>());
        require_flat_unsigned(kept.back(), "data");
        if (kept.back().itemsize() != 1) throw InvalidArgument("data must be a uint8 array");
        data[k] = bytes_of(kept.back());
        sizes[k] = static_cast<size_t>(kept.back().size());
        floats[k] = job[1].cast<bool>();
    }
    {
        py::gil_scoped_release release;
        for (size_t k = 0; k < jobs.size(); ++k) found[k] = worth_probing(data[k], sizes[k], floats[k], checked);
    }
    py::list out(jobs.size());
    for (size_t k = 0; k < jobs.size(); ++k) out[k] = py::bool_(found[k] != 0);
    return out;
}

// ------------------------------------------------------------------ relative indices

py::object codebook_index_py(const py::array& values, size_t max_size) {
    require_flat_unsigned(values, "values");
    if (max_size < 1 || max_size > kMaxCodebookSize) throw InvalidArgument("max_size must be in 1..65536");
    const size_t n = static_cast<size_t>(values.size());
    const size_t width = static_cast<size_t>(values.itemsize());  // read with the GIL held
    const void* src = values.data();
    py::array indices = new_array(n, 2);
    uint16_t* dst_indices = static_cast<uint16_t*>(indices.mutable_data());
    std::vector<uint64_t> book;
    bool found;
    {
        py::gil_scoped_release release;
        found = codebook_index(src, n, width, max_size, book, dst_indices);
    }
    if (!found) return py::none();
    py::array sorted(values.dtype(), static_cast<py::ssize_t>(book.size()));
    uint8_t* dst = static_cast<uint8_t*>(sorted.mutable_data());
    for (size_t i = 0; i < book.size(); ++i) std::memcpy(dst + i * width, &book[i], width);  // little-endian host
    return py::make_tuple(sorted, indices);
}

py::object value_counts_py(const py::array& values, bool skip_zero, size_t limit) {
    require_flat_unsigned(values, "values");
    if (limit > (size_t{1} << 32)) throw InvalidArgument("limit must be at most 2^32");
    const size_t n = static_cast<size_t>(values.size());
    const size_t width = static_cast<size_t>(values.itemsize());
    const void* src = values.data();
    std::vector<uint64_t> counts;
    bool complete;
    {
        py::gil_scoped_release release;
        complete = value_counts(src, n, width, skip_zero, limit, counts);
    }
    if (!complete) return py::none();
    py::array_t<uint64_t> out(static_cast<py::ssize_t>(counts.size()));
    std::copy(counts.begin(), counts.end(), out.mutable_data());
    return out;
}

bool all_distinct_py(const py::array& values, size_t step) {
    require_flat_unsigned(values, "values");
    if (step == 0) throw InvalidArgument("step must be at least 1");
    const size_t size = static_cast<size_t>(values.size());
    const size_t n = size == 0 ? 0 : (size - 1) / step + 1;
    const void* src = values.data();
    const size_t width = static_cast<size_t>(values.itemsize());
    py::gil_scoped_release release;
    return all_distinct(src, n, width, step);
}

// (distinct, total, entropy in bits per occurrence) of a table of occurrence counts: the
// writer's codebook bound takes one per tensor (numpy's five passes over 65,536 counts
// cost about 200 us).
py::tuple count_entropy_py(const py::array_t<uint64_t, py::array::c_style>& counts) {
    CountsEntropy e;
    {
        py::gil_scoped_release release;
        e = counts_entropy(counts.data(), static_cast<size_t>(counts.size()));
    }
    const double per_occurrence = e.distinct > 1 ? e.bits / static_cast<double>(e.total) : 0.0;
    return py::make_tuple(e.distinct, e.total, per_occurrence);
}

// Byte histograms of each plane (byte k, little-endian) of a contiguous array of elements.
py::array plane_histograms_py(const py::array& elements) {
    require_flat_unsigned(elements, "elements");
    const size_t width = static_cast<size_t>(elements.itemsize());
    const size_t n = static_cast<size_t>(elements.size());
    const uint8_t* src = static_cast<const uint8_t*>(elements.data());
    py::array_t<uint64_t> out({static_cast<py::ssize_t>(width), py::ssize_t{256}});
    uint64_t* counts = out.mutable_data();
    std::fill_n(counts, width * 256, uint64_t{0});
    {
        py::gil_scoped_release release;
        plane_histograms_strided(src, n, width, width, counts);
    }
    return out;
}

// (planes' histograms (2, 256), zeros, distinct, total and entropy in bits per occurrence
// of the non-zero patterns) of 2-byte elements.
py::tuple pattern_statistics_py(const py::array& bits) {
    if (bits.dtype().kind() != 'u' || bits.itemsize() != 2 || !(bits.flags() & py::array::c_style) || bits.ndim() != 1)
        throw InvalidArgument("bits must be a 1-D C-contiguous uint16 array");
    const uint16_t* src = static_cast<const uint16_t*>(bits.data());
    const size_t n = static_cast<size_t>(bits.size());
    PatternStatistics stats;
    {
        py::gil_scoped_release release;
        stats = pattern_statistics(src, n);
    }
    py::array_t<uint64_t> planes({py::ssize_t{2}, py::ssize_t{256}});
    std::copy_n(stats.low, 256, planes.mutable_data());
    std::copy_n(stats.high, 256, planes.mutable_data() + 256);
    const CountsEntropy& e = stats.nonzero;
    const double per_occurrence = e.distinct > 1 ? e.bits / static_cast<double>(e.total) : 0.0;
    return py::make_tuple(planes, stats.zeros, e.distinct, e.total, per_occurrence);
}

// The two byte planes' histograms of 2-byte elements from the counts of their 65,536 bit
// patterns (index = pattern): plane 0 the low byte.
py::array pattern_plane_histograms_py(const py::array_t<uint64_t, py::array::c_style>& patterns) {
    if (patterns.ndim() != 1 || patterns.size() != 65536)
        throw InvalidArgument("patterns must be the 65,536 counts of 2-byte bit patterns");
    py::array_t<uint64_t> out({py::ssize_t{2}, py::ssize_t{256}});
    uint64_t* low = out.mutable_data();
    const uint64_t* counts = patterns.data();
    {
        py::gil_scoped_release release;
        pattern_plane_histograms(counts, low, low + 256);
    }
    return out;
}

py::tuple nonzero_scan_py(const py::array& bits, size_t cap) {
    require_flat_unsigned(bits, "bits");
    if (cap < 1 || cap > (size_t{1} << 24)) throw InvalidArgument("cap must be in 1..2^24");
    const size_t width = static_cast<size_t>(bits.itemsize());
    const size_t n = static_cast<size_t>(bits.size());
    const void* src = bits.data();
    size_t nnz;
    {
        py::gil_scoped_release release;
        nnz = count_nonzero(src, n, width);
    }
    // one spare slot each: the scan writes every element before deciding to keep it
    py::array positions = new_array(nnz + 1, 8);
    py::array values = allocating("the values array", [&]() { return py::array(bits.dtype(), static_cast<py::ssize_t>(nnz + 1)); });
    py::array_t<uint64_t> histogram(static_cast<py::ssize_t>(cap));
    std::fill_n(histogram.mutable_data(), cap, uint64_t{0});
    std::vector<int64_t> long_gaps;
    int64_t* dst_positions = static_cast<int64_t*>(positions.mutable_data());  // pointers taken with the GIL
    void* dst_values = values.mutable_data();
    uint64_t* dst_histogram = histogram.mutable_data();
    {
        py::gil_scoped_release release;
        nonzero_scan(src, n, width, nnz, dst_positions, dst_values, dst_histogram, cap, long_gaps);
    }
    py::array_t<int64_t> longs(static_cast<py::ssize_t>(long_gaps.size()));
    std::copy(long_gaps.begin(), long_gaps.end(), longs.mutable_data());
    const py::slice kept(0, static_cast<py::ssize_t>(nnz), 1);
    return py::make_tuple(positions[kept], values[kept], histogram, longs);
}

// (bits, planned size) of the gaps' best width (relative_index.hpp plan_gap_width).
py::tuple plan_gap_width_py(const py::array_t<uint64_t, py::array::c_style>& histogram,
                            const py::array_t<int64_t, py::array::c_style>& long_gaps, double margin, int max_length) {
    if (histogram.ndim() != 1 || long_gaps.ndim() != 1) throw InvalidArgument("histogram and long_gaps must be 1-D");
    if (!(margin >= 0.0) || !std::isfinite(margin)) throw InvalidArgument("margin must be a finite number >= 0");
    if (max_length < 1 || max_length > kMaxCodeLength) throw InvalidArgument("max_code_length must be in 1..16");
    GapWidth width;
    {
        py::gil_scoped_release release;
        width = plan_gap_width(histogram.data(), static_cast<size_t>(histogram.size()), long_gaps.data(),
                               static_cast<size_t>(long_gaps.size()), margin, max_length);
    }
    return py::make_tuple(width.bits, width.size);
}

py::array relative_index_encode_py(const py::array_t<int64_t, py::array::c_style>& positions, int bits) {
    const int64_t* pos = positions.data();
    const size_t n = static_cast<size_t>(positions.size());
    size_t length;
    {
        py::gil_scoped_release release;
        length = relative_index_length(pos, n, bits);
    }
    py::array out = new_array(length, bits <= 8 ? 1 : 2);
    void* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        if (bits <= 8)
            relative_index_encode(pos, n, bits, static_cast<uint8_t*>(dst), length);
        else
            relative_index_encode(pos, n, bits, static_cast<uint16_t*>(dst), length);
    }
    return out;
}

py::array relative_index_decode_py(const py::array& entries, int bits, uint64_t numel) {
    require_unsigned(entries, "entries");
    const void* src = entries.data();
    const size_t n = static_cast<size_t>(entries.size());
    const bool wide = entries.itemsize() == 2;
    size_t count;
    {
        py::gil_scoped_release release;
        count = wide ? relative_index_count(static_cast<const uint16_t*>(src), n, bits)
                     : relative_index_count(static_cast<const uint8_t*>(src), n, bits);
    }
    if (count > numel) throw CorruptStream("more relative-index positions than tensor elements");
    py::array out = new_array(count, 8);
    int64_t* dst = static_cast<int64_t*>(out.mutable_data());
    {
        py::gil_scoped_release release;
        if (wide)
            relative_index_decode(static_cast<const uint16_t*>(src), n, bits, numel, dst);
        else
            relative_index_decode(static_cast<const uint8_t*>(src), n, bits, numel, dst);
    }
    return out;
}

// ------------------------------------------------------------------ scatter

// Scatter copies codebook elements as raw bits: only plain numbers and booleans may be
// copied that way (object elements are PyObject* whose bits carry no reference).
void require_plain_values(const py::array& book) {
    const char kind = book.dtype().kind();
    const bool plain = kind == 'b' || kind == 'i' || kind == 'u' || kind == 'f' || kind == 'c';
    if (!plain || book.dtype().has_fields())
        throw InvalidArgument("codebook must hold bool, integer, float or complex values, got dtype " +
                              py::str(book.dtype()).cast<std::string>());
}

Codebook codebook_of(const py::array& book) {
    require_plain_values(book);
    require_contiguous(book, "codebook");
    return Codebook{book.data(), static_cast<size_t>(book.size()), static_cast<size_t>(book.itemsize())};
}

Indices indices_of(const py::array& idx, const char* what) {
    require_unsigned(idx, what);
    return Indices{idx.data(), static_cast<size_t>(idx.size()), static_cast<size_t>(idx.itemsize())};
}

py::array gather_py(const py::array& book, const py::array& idx, uint64_t numel) {
    const Codebook b = codebook_of(book);
    const Indices i = indices_of(idx, "indices");
    if (i.count != numel) throw CorruptStream("a dense codebook tensor needs one index per element");
    py::array out = empty_like_dtype(book, numel);
    void* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        gather(b, i, dst);
    }
    return out;
}

py::array scatter_py(const py::array& book, const py::array& idx, const py::array_t<int64_t, py::array::c_style>& pos,
                     uint64_t numel) {
    const Codebook b = codebook_of(book);
    const Indices i = indices_of(idx, "indices");
    if (static_cast<size_t>(pos.size()) != i.count) throw InvalidArgument("indices and positions differ in length");
    py::array out = zeros_like_dtype(book, numel);
    void* dst = out.mutable_data();
    const int64_t* p = pos.data();
    {
        py::gil_scoped_release release;
        scatter(b, i, p, numel, dst);
    }
    return out;
}

py::array sparse_scatter_py(const py::array& book, const py::array& idx, const py::array& entries, int bits,
                            uint64_t numel) {
    const Codebook b = codebook_of(book);
    const Indices i = indices_of(idx, "indices");
    const Indices e = indices_of(entries, "entries");
    if (i.count > numel) throw CorruptStream("more codebook indices than tensor elements");
    py::array out = zeros_like_dtype(book, numel);
    void* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        sparse_scatter(b, i, e, bits, numel, dst);
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "pycodec native core: canonical Huffman coding, relative-index coding, scatter";

    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const LimitExceeded& e) {
            raise_project_error("LimitExceededError", e.what());
        } catch (const CorruptStream& e) {
            raise_project_error("CorruptStreamError", e.what());
        } catch (const InvalidArgument& e) {
            raise_project_error("CodecError", e.what());
        } catch (const std::bad_alloc&) {
            raise_project_error("LimitExceededError", "not enough memory for the codec's working buffers");
        } catch (const std::length_error& e) {
            raise_project_error("LimitExceededError", e.what());
        } catch (const std::overflow_error& e) {
            raise_project_error("CodecError", e.what());
        } catch (const DataChanged& e) {
            raise_project_error("DataChangedError", e.what());
        }
    });


    m.def("histogram", &histogram, py::arg("symbols"));
    m.def("code_lengths", &code_lengths, py::arg("counts"), py::arg("max_code_length"));
    m.def("serialize_code", &serialize_code_py, py::arg("symbol_bits"), py::arg("symbols"), py::arg("lengths"));
    m.def("parse_code", &parse_code_py, py::arg("data"), py::arg("symbol_bits"));
    m.def("encode_with_code", &encode_with_code_py, py::arg("symbols"), py::arg("code_symbols"),
          py::arg("code_lengths"));
    m.def("decode_with_code", &decode_with_code_py, py::arg("data"), py::arg("symbol_bits"), py::arg("code_symbols"),
          py::arg("code_lengths"), py::arg("count"));
    m.def("huffman_encode", &huffman_encode_py, py::arg("symbols"), py::arg("max_code_length"));
    m.def("planes_encode", &planes_encode_py, py::arg("elements"), py::arg("plane_mask"), py::arg("max_code_length"),
          py::arg("threads"), py::arg("counted") = py::none());
    py::class_<PlanesCoder>(m, "PlanesCoder")
        .def(py::init<>())
        .def("submit", &PlanesCoder::submit, py::arg("elements"), py::arg("plane_mask"), py::arg("max_code_length"),
             py::arg("counted") = py::none())
        .def("result", &PlanesCoder::result, py::arg("job"))
        .def("drop", &PlanesCoder::drop, py::arg("job"))
        .def("close", &PlanesCoder::stop);
    py::class_<PlaneCounts>(m, "PlaneCounts")
        .def_property_readonly("histograms", [](const PlaneCounts& c) {
            py::array_t<uint64_t> out({static_cast<py::ssize_t>(c.width), static_cast<py::ssize_t>(c.segments), py::ssize_t{256}});
            std::copy(c.counts.begin(), c.counts.end(), out.mutable_data());
            return out;
        });
    m.def("count_planes", &count_planes_py, py::arg("elements"));
    m.def("huffman_decode", &huffman_decode_py, py::arg("data"), py::arg("max_symbols"));
    py::class_<ParsedStream>(m, "ParsedStream")
        .def_property_readonly("symbol_bits", [](const ParsedStream& p) { return p.layout.symbol_bits; })
        .def_property_readonly("count", [](const ParsedStream& p) { return p.layout.count; })
        .def_property_readonly("distinct", &ParsedStream::distinct)
        .def_property_readonly("max_code_length", [](const ParsedStream& p) { return p.layout.code.max_length(); })
        .def_property_readonly("streams", [](const ParsedStream& p) { return p.layout.substreams; })
        .def_property_readonly("header_bytes", [](const ParsedStream& p) { return p.layout.header_bytes; })
        .def_property_readonly("payload_bytes", [](const ParsedStream& p) { return payload_bytes(p.layout); })
        .def_property_readonly("max_symbol", &ParsedStream::max_symbol)
        .def_property_readonly("decode_table", &ParsedStream::decode_table)
        .def_property_readonly("single_symbol", [](const ParsedStream& p) -> py::object {
            if (p.layout.mode != StreamMode::kSingle) return py::none();
            return py::int_(p.layout.single_symbol);
        })
        .def("decode", &ParsedStream::decode);
    m.def("huffman_parse", &huffman_parse_py, py::arg("data"), py::arg("max_symbols"));
    m.def("histogram", &histogram_py, py::arg("symbols"));
    m.def("crc32", &crc32_py, py::arg("data"), py::arg("value") = 0);
    m.def("choose_dense", &choose_dense_py, py::arg("jobs"), py::arg("rules"), py::arg("threads"),
          py::arg("parallel_from_bytes"), py::arg("gate") = py::none());
    // open() needs no GIL release: it only sets a flag under a mutex no worker holds for long
    py::class_<WorkerGate, std::shared_ptr<WorkerGate>>(m, "WorkerGate")
        .def(py::init<>())
        .def("open", &WorkerGate::open)
        .def_property_readonly("opened", &WorkerGate::opened);
    m.def("worth_probing", &worth_probing_py, py::arg("jobs"), py::arg("rules"));
    m.def("read_sections", &read_sections_py, py::arg("source"), py::arg("jobs"), py::arg("threads"));
    m.def("planes_decode", &planes_decode_py, py::arg("planes"), py::arg("count"), py::arg("threads"));
    m.def("plane_worth_coding", &plane_worth_coding, py::arg("stream_bytes"), py::arg("count"));
    m.def("huffman_plan_size", &huffman_plan_size_py, py::arg("counts"), py::arg("symbol_bits"),
          py::arg("max_code_length"), py::arg("at_most") = py::none());
    py::dict limits;
    for (const LimitEntry& entry : kLimits) limits[entry.name] = entry.value;
    m.attr("LIMITS") = limits;
    m.def("nonzero_scan", &nonzero_scan_py, py::arg("bits"), py::arg("cap"));
    m.def("codebook_index", &codebook_index_py, py::arg("values"), py::arg("max_size"));
    m.def("value_counts", &value_counts_py, py::arg("values"), py::arg("skip_zero"), py::arg("limit"));
    m.def("all_distinct", &all_distinct_py, py::arg("values"), py::arg("step"));
    m.def("count_entropy", &count_entropy_py, py::arg("counts"));
    m.def("plan_plane_sizes", &plan_plane_sizes_py, py::arg("histograms"), py::arg("scale"), py::arg("numel"),
          py::arg("max_code_length"));
    m.def("plane_histograms", &plane_histograms_py, py::arg("elements"));
    m.def("empty_bytes", [](uint64_t n) { return new_array(n, 1); }, py::arg("n"));
    m.def("pattern_plane_histograms", &pattern_plane_histograms_py, py::arg("patterns"));
    m.def("pattern_statistics", &pattern_statistics_py, py::arg("bits"));
    m.def("relative_index_encode", &relative_index_encode_py, py::arg("positions"), py::arg("bits"));
    m.def("plan_gap_width", &plan_gap_width_py, py::arg("histogram"), py::arg("long_gaps"), py::arg("margin"),
          py::arg("max_code_length"));
    m.def("relative_index_decode", &relative_index_decode_py, py::arg("entries"), py::arg("bits"), py::arg("numel"));
    m.def("gather", &gather_py, py::arg("codebook"), py::arg("indices"), py::arg("numel"));
    m.def("scatter", &scatter_py, py::arg("codebook"), py::arg("indices"), py::arg("positions"), py::arg("numel"));
    m.def("sparse_scatter", &sparse_scatter_py, py::arg("codebook"), py::arg("indices"), py::arg("entries"),
          py::arg("bits"), py::arg("numel"));
}

// Memory for the library's coroutine frames: per-thread free lists by size class, so that a
// request's frames cost no call to malloc once a thread has run a few requests. A frame
// freed on another thread than the one that made it simply joins that thread's list.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <new>

namespace shop::detail {

class frame_memory {
public:
    static void* allocate(std::size_t size) {
        std::size_t const k = class_of(size);
        if (k < classes) {
            auto& c = local();
            if (node* n = c.head[k]) {
                c.head[k] = n->next;
                --c.count[k];
                return n;
            }
            return ::operator new((k + 1) * granule);
        }
        return ::operator new(size);
    }

    static void deallocate(void* p, std::size_t size) noexcept {
        std::size_t const k = class_of(size);
        if (k < classes) {
            auto& c = local();
            if (c.count[k] < keep_per_class) {
                auto* n = static_cast<node*>(p);
                n->next = c.head[k];
                c.head[k] = n;
                ++c.count[k];
                return;
            }
            release(p, (k + 1) * granule);
            return;
        }
        release(p, size);
    }

private:
    // Clang (14) declares the sized operator delete only with -fsized-deallocation.
    static void release(void* p, [[maybe_unused]] std::size_t size) noexcept {
#if defined(__cpp_sized_deallocation)
        ::operator delete(p, size);
#else
        ::operator delete(p);
#endif
    }

    static constexpr std::size_t granule = 64;
    static constexpr std::size_t classes = 64;          // frames up to 4 KiB are recycled
    static constexpr std::uint32_t keep_per_class = 512;  // per thread: a burst's frames, not a hoard

    struct node {
        node* next;
    };
    struct cache {
        std::array<node*, classes> head{};
        std::array<std::uint32_t, classes> count{};
        ~cache() {
            for (std::size_t k = 0; k < classes; ++k)
                while (node* n = head[k]) {
                    head[k] = n->next;
                    release(n, (k + 1) * granule);
                }
        }
    };

    static std::size_t class_of(std::size_t size) noexcept { return size == 0 ? 0 : (size - 1) / granule; }

    static cache& local() noexcept {
        thread_local cache c;
        return c;
    }
};

} // namespace shop::detail

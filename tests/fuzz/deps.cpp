// Boost.JSON compiled into the fuzz targets, with their instrumentation.
#include <boost/json/src.hpp>

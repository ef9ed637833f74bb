// env_int: the one parser of the lab switches (core/env.h).
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/env.h"
#include "core/error.h"

namespace deftnn {
namespace {

constexpr const char* kVar = "DEFTNN_TEST_ENV_INT";

TEST(EnvInt, UnsetOrEmptyGivesTheFallback) {
  ::unsetenv(kVar);
  EXPECT_EQ(env_int(kVar, 7, 0, 10), 7);
  ::setenv(kVar, "", 1);
  EXPECT_EQ(env_int(kVar, -3, 0, 10), -3);  // the fallback need not lie in range
}

TEST(EnvInt, ParsesIntegersInRange) {
  ::setenv(kVar, "0", 1);
  EXPECT_EQ(env_int(kVar, 5, 0, 16), 0);
  ::setenv(kVar, "16", 1);
  EXPECT_EQ(env_int(kVar, 5, 0, 16), 16);
  ::setenv(kVar, "-2", 1);
  EXPECT_EQ(env_int(kVar, 5, -2, 2), -2);
  ::unsetenv(kVar);
}

TEST(EnvInt, RejectsGarbageAndOutOfRangeNamingTheVariable) {
  for (const char* bad : {"abc", "3x", "1.5", " ", "99999999999999999999999"}) {
    ::setenv(kVar, bad, 1);
    try {
      env_int(kVar, 0, 0, 16);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(kVar), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not an integer"), std::string::npos) << e.what();
    }
  }
  ::setenv(kVar, "17", 1);
  try {
    env_int(kVar, 0, 0, 16);
    ADD_FAILURE() << "accepted 17 outside [0, 16]";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside [0, 16]"), std::string::npos) << e.what();
  }
  ::unsetenv(kVar);
}

}  // namespace
}  // namespace deftnn

/* An empty ICU 72 data package: libicuuc's NFD, character properties and root
   case mapping are compiled into libicuuc itself and never read it. Layout of
   ICU's stubdata.cpp (ICU_Data_Header): header size, magic, UDataInfo, count 0. */
#include <stdint.h>
struct header {
  uint16_t header_size; uint8_t magic1, magic2;
  uint16_t info_size, reserved0; uint8_t big_endian, charset, sizeof_uchar, reserved1;
  uint8_t format[4], format_version[4], data_version[4];
  char padding[8];
  uint32_t count, reserved2;
  uint32_t toc[4];
};
__attribute__((visibility("default"))) const struct header icudt72_dat = {
  32, 0xda, 0x27, 20, 0, 0, 0, 2, 0, {0x54, 0x6f, 0x43, 0x50}, {1, 0, 0, 0}, {0, 0, 0, 0},
  {0}, 0, 0, {0, 0, 0, 0}};

set(DEFTNN_SOURCES_CPU dataset.cpp loader.cpp tokenizer.cpp text_lines.cpp image_folder.cpp)
if(DEFTNN_WITH_IMAGES)
  list(APPEND DEFTNN_SOURCES_CPU image_decode.cpp)  # libpng, libjpeg
else()
  list(APPEND DEFTNN_SOURCES_CPU image_decode_none.cpp)  # decode_image says the build has no image support
endif()

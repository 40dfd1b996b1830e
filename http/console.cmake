# http/console.cmake — embeds the web console (http/console/*) in the binary.
#
# Included by CMakeLists.txt. At configure time every file directly in
# http/console/ becomes a byte array in ${CMAKE_BINARY_DIR}/gen/console_files.h
# (file(READ ... HEX), no xxd), with its name and an ETag (the SHA-256 of its
# bytes). http/h_console.c serves them at GET / (index.html) and
# GET /console/<name>. Editing, adding or removing a file re-runs the
# configure step on the next build (CONFIGURE_DEPENDS), so the binary always
# holds the files of its source tree and needs no source tree to run.
file(GLOB SGW_CONSOLE_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/http/console/*)
list(SORT SGW_CONSOLE_FILES)
set(SGW_CONSOLE_ARRAYS "")
set(SGW_CONSOLE_TABLE "")
set(SGW_CONSOLE_I 0)
foreach(f ${SGW_CONSOLE_FILES})
  if(IS_DIRECTORY ${f})
    continue()
  endif()
  get_filename_component(name ${f} NAME)
  if(NOT name MATCHES "^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    message(FATAL_ERROR "http/console/${name}: console file names are [A-Za-z0-9_.-]")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${f})
  file(READ ${f} hex HEX)
  file(SHA256 ${f} sha)
  file(SIZE ${f} size)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(SUBSTRING "${sha}" 0 32 etag)
  string(APPEND SGW_CONSOLE_ARRAYS
    "static const unsigned char sgw_console_f${SGW_CONSOLE_I}_[] = {${bytes} 0x00};\n")
  string(APPEND SGW_CONSOLE_TABLE
    "    { \"${name}\", \"\\\"${etag}\\\"\", sgw_console_f${SGW_CONSOLE_I}_, ${size} },\n")
  math(EXPR SGW_CONSOLE_I "${SGW_CONSOLE_I} + 1")
endforeach()
file(WRITE ${CMAKE_BINARY_DIR}/gen/console_files.h.tmp
  "/* generated from the files in http/console/ by http/console.cmake */\n"
  "${SGW_CONSOLE_ARRAYS}"
  "static const sgw_console_file sgw_console_files_[] = {\n${SGW_CONSOLE_TABLE}"
  "    { NULL, NULL, NULL, 0 },\n};\n")
# rewrite only on change, so an unrelated re-configure rebuilds nothing
configure_file(${CMAKE_BINARY_DIR}/gen/console_files.h.tmp
  ${CMAKE_BINARY_DIR}/gen/console_files.h COPYONLY)

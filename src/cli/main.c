#include <stdio.h>
#include "speedster.h"
int main(void) { printf("speedster %s\n", SPD_VERSION_STRING); return 0; }

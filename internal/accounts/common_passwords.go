package accounts

// commonPasswords are among the most used passwords in published breach
// corpora (those of at least eight characters, which the length rule does
// not already refuse), plus this product's and its neighbours' names. A new
// password is compared with them case-insensitively.
var commonPasswords = map[string]bool{
	"password": true, "password1": true, "password12": true, "password123": true, "password1234": true,
	"password12345": true, "password!": true, "password1!": true, "passw0rd": true, "passw0rd1": true,
	"p@ssw0rd": true, "p@ssword": true, "p@ssword1": true, "p@ssw0rd1": true, "p@$$w0rd": true,
	"pa$$word": true, "pa$$w0rd": true, "password2023": true, "password2024": true, "password2025": true,
	"passpass": true, "12345678": true, "123456789": true, "1234567890": true, "12345678910": true,
	"123123123": true, "123321123": true, "11111111": true, "111111111": true, "1111111111": true,
	"00000000": true, "000000000": true, "0000000000": true, "88888888": true, "99999999": true,
	"66666666": true, "55555555": true, "12341234": true, "11223344": true, "12121212": true, "13131313": true,
	"87654321": true, "987654321": true, "0987654321": true, "147258369": true, "159753456": true,
	"741852963": true, "789456123": true, "123654789": true, "123456789a": true, "a123456789": true,
	"12345678a": true, "1234567a": true, "1234567q": true, "12345qwert": true, "1q2w3e4r": true,
	"1q2w3e4r5t": true, "1q2w3e4r5t6y": true, "1qaz2wsx": true, "1qazxsw2": true, "zaq12wsx": true,
	"zaq1zaq1": true, "zaq1xsw2": true, "q1w2e3r4": true, "q1w2e3r4t5": true, "1a2b3c4d": true,
	"a1b2c3d4": true, "qwertyuiop": true, "qwerty12": true, "qwerty123": true, "qwerty1234": true,
	"qwerty123456": true, "qwertyui": true, "qwer1234": true, "1234qwer": true, "asdfghjkl": true,
	"asdfghjk": true, "asdfasdf": true, "asdf1234": true, "zxcvbnm1": true, "zxcvbnm123": true,
	"zxcvbnmm": true, "qazwsxedc": true, "qweasdzxc": true, "123qweasd": true, "qweqweqwe": true,
	"asdasdasd": true, "abcd1234": true, "abc12345": true, "abcdefgh": true, "abcdefg1": true, "aa123456": true,
	"iloveyou": true, "iloveyou1": true, "iloveyou2": true, "iloveyou!": true, "sunshine": true,
	"sunshine1": true, "princess": true, "princess1": true, "football": true, "football1": true,
	"baseball": true, "basketball": true, "superman": true, "superman1": true, "batman123": true,
	"starwars": true, "pokemon1": true, "whatever": true, "trustno1": true, "letmein1": true,
	"letmein123": true, "letmeinnow": true, "welcome1": true, "welcome123": true, "welcome2024": true,
	"welcome2025": true, "changeme": true, "changeme1": true, "changeme123": true, "administrator": true,
	"admin123": true, "admin1234": true, "admin12345": true, "admin@123": true, "adminadmin": true,
	"root1234": true, "rootroot": true, "toor1234": true, "master123": true, "masterkey": true,
	"monkey123": true, "dragon123": true, "shadow123": true, "michael1": true, "jennifer": true,
	"jordan23": true, "charlie1": true, "computer": true, "internet": true, "samsung1": true, "chocolate": true,
	"butterfly": true, "liverpool": true, "chelsea1": true, "arsenal1": true, "mustang1": true,
	"maverick": true, "secret123": true, "default1": true, "default123": true, "guest123": true,
	"test1234": true, "test12345": true, "testtest": true, "user1234": true, "login123": true, "hello123": true,
	"helloworld": true, "hellokitty": true, "freedom1": true, "blink182": true, "linkedin": true,
	"facebook": true, "google123": true, "microsoft": true, "summer2024": true, "summer2025": true,
	"winter2024": true, "winter2025": true, "spring2025": true, "autumn2024": true, "trustdeck": true,
	"trustdeck1": true, "trustdeck123": true, "docker123": true, "dockerhub": true, "notary123": true,
	"notaryserver": true, "registry": true, "kubernetes": true,
}
